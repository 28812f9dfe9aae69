# The nightshift worker image, for docker-compose.yml and real clusters.
# The TypeScript is compiled in a stage of its own, so the compiler and the other
# development packages stay out of the image the worker runs in.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
# `npm install` compiles into dist/ (the prepare script); the prune then drops what only that needed.
RUN npm install --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
# git for checkouts and pushes; bubblewrap, socat and ripgrep for the local sandbox.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap socat ripgrep ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
ENV NIGHTSHIFT_ROOT=/data
VOLUME /data
CMD ["node", "dist/worker/main.js"]
