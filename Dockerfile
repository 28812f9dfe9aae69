# The nightshift worker image, for docker-compose.yml and real clusters.
FROM node:20-bookworm-slim
# git for checkouts and pushes; bubblewrap, socat and ripgrep for the local sandbox.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git bubblewrap socat ripgrep ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --omit=dev
COPY . .
ENV NIGHTSHIFT_ROOT=/data
VOLUME /data
CMD ["node", "--import", "tsx", "worker/main.ts"]
