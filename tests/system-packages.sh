#!/bin/sh
# The Debian programs some tests drive: chromium and its chromedriver (the docs page and the
# playground in a real browser) and nginx (replicas behind a load balancer). `make test` runs
# this first. As root with apt-get, what is missing is installed (from the distribution's
# mirror, never at test time); otherwise it says which tests will be skipped and why.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
command -v nginx >/dev/null 2>&1 || missing="$missing nginx-light"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages the tests use:$missing"
  # shellcheck disable=SC2086
  apt-get install -y -q $missing >/dev/null 2>&1 || {
    apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $missing >/dev/null 2>&1
  } || echo "could not install:$missing" >&2
fi
still=""
command -v chromium >/dev/null 2>&1 || still="$still chromium"
command -v chromedriver >/dev/null 2>&1 || still="$still chromium-driver"
command -v nginx >/dev/null 2>&1 || still="$still nginx-light"
if [ -n "$still" ]; then
  echo "not installed:$still (install them with apt-get, as root, to run every test)." >&2
  case "$still" in *chromium*) echo "  skipped without chromium: tests/e2e/test_docs.py (the docs page in a browser), tests/e2e/test_playground.py" >&2 ;; esac
  case "$still" in *nginx*) echo "  skipped without nginx: tests/e2e/test_replicas.py (replicas behind a load balancer)" >&2 ;; esac
fi
exit 0
