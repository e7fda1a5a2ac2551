# tests/integration: the real router and real handlers on free loopback
# ports, driven by real clients (Node ws, Python websockets, curl).
# Included from tests/Makefile.am; paths are relative to tests/.
#
# One file:	make check TESTS=integration/routing.js
# By hand:	cd tests && node --test-reporter=tap integration/routing.js
# Knobs (environment):
#   WSROUTER_WRAPPER="valgrind -q --error-exitcode=1"  run the router under it
#   WSR_TIME_SCALE=3	stretch every wait (valgrind, sanitizers)
#   WSR_LOG_LEVEL=debug	the router's log level
#   WSR_KEEP_TMP=1	keep each test's directory (configs, logs, sockets)
# The Node clients come from package-lock.json: npm ci in tests/.

INTEGRATION_HARNESS = \
	integration/harness.js \
	integration/harness.py \
	integration/chatstack.js

INTEGRATION_TESTS = \
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
	integration/router_extras.js \
	integration/reuseport.js \
	integration/demo.js \
	integration/fakellm.py \
	integration/llm.py \
	integration/chat_flow.js \
	integration/chat_auth.js \
	integration/chat_faults.js \
	integration/chat_load.js

TESTS += $(INTEGRATION_TESTS)

EXTRA_DIST += \
	$(INTEGRATION_HARNESS) \
	$(INTEGRATION_TESTS) \
	package.json \
	package-lock.json

# Screenshots and other artifacts the tests leave for people to look at.
clean-local: clean-artifacts
clean-artifacts:
	rm -rf artifacts
.PHONY: clean-artifacts
