# tests/integration: the real router and real handlers on free loopback
# ports, driven by real clients (Node ws, Python websockets, curl).
# Included from tests/Makefile.am; paths are relative to tests/.

INTEGRATION_HARNESS = \
	integration/harness.js \
	integration/harness.py

TESTS += \
	integration/daemon.sh \
	integration/routing.js \
	integration/streaming.js \
	integration/connect.js \
	integration/disconnect.js \
	integration/failures.js \
	integration/backpressure.js \
	integration/management.js \
	integration/python_client.py \
	integration/php.js \
	integration/examples.js

EXTRA_DIST += \
	$(INTEGRATION_HARNESS) \
	integration/daemon.sh \
	integration/routing.js \
	integration/streaming.js \
	integration/connect.js \
	integration/disconnect.js \
	integration/failures.js \
	integration/backpressure.js \
	integration/management.js \
	integration/python_client.py \
	integration/php.js \
	integration/examples.js \
	package.json \
	package-lock.json
