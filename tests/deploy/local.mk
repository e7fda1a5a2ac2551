# tests/deploy: the systemd units, the nginx example, the example
# configuration and the man pages, checked with the tools that read them.
deploy_tests = deploy/units.sh deploy/nginx.sh deploy/config.sh deploy/docs.sh
TESTS += $(deploy_tests)
EXTRA_DIST += deploy/tap.sh $(deploy_tests)
