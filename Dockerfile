# qwen2 serve in a container: the OpenAI-compatible server on port 8080, the model mounted at /models/model.
#
#   docker build -t qwen2-ts .
#   docker run --rm -p 8080:8080 -v /path/to/Qwen2.5-0.5B-Instruct:/models/model:ro qwen2-ts
#   docker run --rm -p 8080:8080 -v /path/to/models:/models:ro qwen2-ts --model /models/m.gguf --api-key-file /models/keys
#
# Inside the container the server binds 0.0.0.0 (so the Host allow-list is off unless
# --allowed-host is given); publish the port to 127.0.0.1 (-p 127.0.0.1:8080:8080) or put it
# behind a proxy. `docker stop` sends SIGTERM: the server drains (--shutdown-timeout, 30 s by
# default, under docker's own 10 s unless you pass `docker stop -t 40`) and exits 0.
# scripts/docker-smoke.sh builds the image and checks it end to end.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY bin ./bin
COPY assets ./assets
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY tools ./tools
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/assets ./assets
COPY --from=build /app/dist/src ./dist/src
COPY LICENSE NOTICE ./
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD node -e "fetch('http://127.0.0.1:8080/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "bin/qwen2.js", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--model", "/models/model"]
