# CCProxy as a container image. Not exercised by the test suite (no container engine where it runs); see the
# README's "Deployment".
#
# Two stages. The build stage installs everything (the dev dependencies include TypeScript) and compiles src/ to
# dist/ with `npm run build`, the same build `npm pack` ships. The runtime stage has only the production
# dependencies and dist/: `bin/ccproxy.js` runs dist/main.js when there is no src/ beside it. (Running src/*.ts
# through Node's type stripping would also work, but would put the sources and a second Node, the pinned `node`
# dev dependency, into the image for nothing.)
ARG NODE_IMAGE=node:22-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
RUN npm run build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Listen on every interface inside the container. The proxy refuses that without PROXY_API_KEYS (or
# ALLOW_UNAUTHENTICATED=true when something in front authenticates): set one of them when running the image.
ENV HOST=0.0.0.0 PORT=11434
EXPOSE 11434
USER node
# SIGTERM (docker stop) is the graceful stop: no new connections, streams get 20 s; give the container 30 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/ccproxy.js"]
CMD ["start"]
