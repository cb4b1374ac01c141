#!/bin/sh
# The compose kit's first-start setup, run in the Synapse image (it has Python and a shell).
# Writes only what is missing, so a rerun changes nothing.
set -eu

if [ ! -f /data/homeserver.yaml ]; then
    python -m synapse.app.homeserver \
        --server-name "$SERVER_NAME" \
        --config-path /data/homeserver.yaml \
        --data-directory /data \
        --generate-config --report-stats=no
fi

# Merged over homeserver.yaml (compose.yaml passes both): the database, a listener the other
# containers reach, and the bridge's registration. Rewritten on every start, so a changed
# POSTGRES_PASSWORD reaches Synapse.
cat > /data/compose-overrides.yaml <<YAML
database:
  name: psycopg2
  args:
    user: postgres
    password: "$POSTGRES_PASSWORD"
    database: synapse
    host: postgres
    cp_min: 5
    cp_max: 10
listeners:
  - port: 8008
    type: http
    tls: false
    bind_addresses: ['0.0.0.0']
    x_forwarded: true
    resources:
      - names: [client, federation]
        compress: false
app_service_config_files:
  - /registration/aqueduct.yaml
YAML
chown -R 991:991 /data

if [ ! -f /aqueduct/config.yaml ]; then
    sed "s/SERVER_NAME/$SERVER_NAME/g" /templates/aqueduct-config.yaml > /aqueduct/config.yaml
fi
# The bridge image runs as 65532 (distroless "nonroot"); Synapse (991) reads the registration.
chown -R 65532:65532 /aqueduct /registration
chmod 0755 /registration
