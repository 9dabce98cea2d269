/** Errors from chat templates name what to fix; renders do not leak state into each other. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatTemplateError, renderChatTemplate } from "../../src/tokenizer/chat_template.js";
import { FormatError } from "../../src/errors.js";

test("a missing chat template names tokenizer_config.json and its chat_template field", () => {
  for (const template of [null, undefined, ""]) {
    assert.throws(
      () => renderChatTemplate(template, [{ role: "user", content: "hi" }]),
      (e: unknown) => e instanceof FormatError && e.file === "tokenizer_config.json" && /field chat_template is missing/.test(e.message),
    );
  }
  assert.throws(
    () => renderChatTemplate(null, [], { source: "/models/x/tokenizer_config.json" }),
    (e: unknown) => e instanceof FormatError && e.message.startsWith("/models/x/tokenizer_config.json: field chat_template"),
  );
});

test("a template that does not parse is a FormatError naming chat_template", () => {
  assert.throws(
    () => renderChatTemplate("{% for m in messages %}{{ m.content }}", [{ role: "user", content: "x" }]),
    (e: unknown) => e instanceof FormatError && /field chat_template does not parse/.test(e.message),
  );
  assert.throws(
    () => renderChatTemplate("{{ 'never closed ", []),
    (e: unknown) => e instanceof FormatError && /chat_template/.test(e.message),
  );
});

test("raise_exception in a template becomes a ChatTemplateError carrying the template's message", () => {
  const template = "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}ok";
  assert.equal(renderChatTemplate(template, [{ role: "user", content: "x" }]), "ok");
  assert.throws(
    () => renderChatTemplate(template, [{ role: "assistant", content: "x" }]),
    (e: unknown) => e instanceof ChatTemplateError && /first message must be from the user/.test(e.message),
  );
});

test("renders of one cached template are independent (namespace and loop state do not leak)", () => {
  const template =
    "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% if loop.index == 2 %}{% break %}{% endif %}{% endfor %}{{ ns.n }}";
  assert.equal(renderChatTemplate(template, [{ role: "user" }, { role: "user" }, { role: "user" }]), "2");
  assert.equal(renderChatTemplate(template, [{ role: "user" }]), "1");
  assert.equal(renderChatTemplate(template, [{ role: "user" }, { role: "user" }, { role: "user" }]), "2");
});

test("variables: tools absent is none, extra variables reach the template, named options win over extra", () => {
  const template = "{{ tools is none }}|{{ enable_thinking }}|{{ add_generation_prompt }}|{{ eos_token is defined }}";
  assert.equal(
    renderChatTemplate(template, [], { extra: { enable_thinking: false, add_generation_prompt: "overridden?" } }),
    "True|False|False|False",
  );
  assert.equal(renderChatTemplate(template, [], { tools: [], eosToken: "<|im_end|>", addGenerationPrompt: true }), "False||True|True");
});

test("a template failing on the messages (Python raises too) is a ChatTemplateError naming the template", () => {
  const template = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content }}{% endfor %}";
  assert.equal(renderChatTemplate(template, [{ role: "user", content: "x" }]), "<|im_start|>user\nx");
  assert.throws(
    () => renderChatTemplate(template, [{ role: "assistant", content: null }]),
    (e: unknown) => e instanceof ChatTemplateError && /tokenizer_config\.json, field chat_template\) could not render/.test(e.message),
  );
});
