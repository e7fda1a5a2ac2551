# tests/protocol: RFC 6455 framing edge cases sent as hand-built frames,
# and the router's security and hygiene checks (handshake refusals,
# origins, keep-alive, timeouts, loopback-only API, config check, logs,
# drain and reload). Included from tests/Makefile.am; paths are relative
# to tests/.

TESTS += \
	protocol/raw_frames.js \
	protocol/hygiene.js

EXTRA_DIST += \
	protocol/rawws.js \
	protocol/netns_probe.js \
	protocol/raw_frames.js \
	protocol/hygiene.js
