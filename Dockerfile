# asymroute node agent. A version tag publishes it for amd64 and arm64 (.github/workflows/release.yml); by hand:
# docker build -t registry.example/asymroute:0.1.0 --build-arg REVISION=$(git rev-parse --short=12 HEAD) .
# VERSION defaults to package.json's version (test/packaging/release-workflow.test.ts keeps the two equal).
# Runs as root with capabilities limited by the pod (see the Helm chart and docs/operations.md, "Privileges").
# test/packaging/dockerfile.test.ts checks that the runtime stage installs every binary the agent spawns and that
# the production dependency set it ships runs the agent's offline path.

ARG NODE_IMAGE=node:24-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent ./agent
COPY bench ./bench
COPY bin ./bin
COPY captures ./captures
COPY scripts/build-info.mjs ./scripts/build-info.mjs
# No .git in the build context: the revision for --version and asymroute_build_info comes from the build argument.
ARG REVISION=unknown
RUN ASYMROUTE_REVISION="${REVISION}" npm run build

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="asymroute" \
      org.opencontainers.image.description="Per-node agent that checks whether replies for load-balancer VIPs leave on the interface the requests arrived on" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# The binaries the agent spawns: ip and ss (iproute2), tcpdump, arping (iputils-arping) and ndisc6 for --arp-probe,
# iptables-save, nft and conntrack (iptables, nftables, conntrack) for DNAT backends and reply marks, and setpriv
# (util-linux, Essential, named so it cannot go missing) that ties every child's life to the agent's.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 tcpdump iputils-arping ndisc6 iptables nftables conntrack util-linux \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/agent ./dist/agent
COPY --from=build /app/dist/build-info.json ./dist/build-info.json
COPY --from=build /app/bin ./bin
COPY --from=build /app/captures ./captures
# Root: the pod drops every capability but NET_RAW, SETUID, SETGID, KILL and NET_ADMIN (docs/operations.md, "Privileges").
USER root
# 9472: the API (--port); 9473: the kubelet's probes, where the chart sets --probe-port.
EXPOSE 9472 9473
ENTRYPOINT ["node", "/app/bin/asymroute.js"]
CMD ["serve"]
