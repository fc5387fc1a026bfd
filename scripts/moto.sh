#!/usr/bin/env bash
# Starts a moto S3 server on 127.0.0.1 with one CORS-enabled bucket for the browser tests, or
# stops it. Prints the endpoint on start.
#   moto.sh start <bucket>   -> echoes http://127.0.0.1:PORT (pid in .moto.pid)
#   moto.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
start)
  bucket="$2"
  port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  .venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  echo $! > .moto.pid
  ep="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "$ep" && break
    sleep 0.1
  done
  # moto accepts any signature but refuses anonymous requests.
  auth="authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
  curl -sf -X PUT -H "$auth" "$ep/$bucket" >/dev/null
  cors='<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>'
  for m in GET PUT HEAD DELETE POST; do cors="$cors<AllowedMethod>$m</AllowedMethod>"; done
  cors="$cors<AllowedHeader>*</AllowedHeader>"
  for h in ETag Content-Length Content-Range; do cors="$cors<ExposeHeader>$h</ExposeHeader>"; done
  cors="$cors</CORSRule></CORSConfiguration>"
  curl -sf -X PUT -H "$auth" -H "content-type: application/xml" "$ep/$bucket?cors" --data-binary "$cors" >/dev/null
  # Without this, moto answers the preflight of an existing key with 403.
  policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",'
  policy="$policy\"Action\":[\"s3:OptionsObject\",\"s3:*\"],\"Resource\":[\"arn:aws:s3:::$bucket\",\"arn:aws:s3:::$bucket/*\"]}]}"
  curl -sf -X PUT -H "$auth" -H "content-type: application/json" "$ep/$bucket?policy" --data-binary "$policy" >/dev/null
  echo "$ep"
  ;;
stop)
  if [ -f .moto.pid ]; then
    kill "$(cat .moto.pid)" 2>/dev/null || true
    rm -f .moto.pid
  fi
  ;;
*)
  echo "usage: moto.sh start <bucket> | stop" >&2
  exit 2
  ;;
esac
