#!/usr/bin/env bash
# The demo: builds what it needs (the pinned llama-server, cached; llama-orch), writes a tiny generated model
# to models/demo.gguf, and runs the demo instance declared in instances/demo/config.json: validates it, shows
# the plan, starts it under the daemon and waits until it is healthy, lists it, sends one completion, and
# says how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_SERVER=$(scripts/setup.sh | tail -n 1)
export LLAMA_SERVER
echo "demo: building llama-orch (the first build takes a few minutes)" >&2
swift build --product llama-orch >&2
swift build --product make-tiny-model >&2
bin=$(swift build --show-bin-path)
orch="$bin/llama-orch"

mkdir -p models
[ -f models/demo.gguf ] || "$bin/make-tiny-model" --kind dense --out models/demo.gguf >/dev/null

step() { printf '\n$ llama-orch %s\n' "$*"; "$orch" "$@"; }
step config validate demo
step plan demo
step up demo --wait
step ps

port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' instances/demo/config.json | head -n 1)
printf '\n$ curl -s http://127.0.0.1:%s/completion -d '"'"'{"prompt": "Hello", "n_predict": 8}'"'"'\n' "$port"
python3 - "$port" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/completion",
                                 data=json.dumps({"prompt": "Hello", "n_predict": 8}).encode(),
                                 headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=60))
print(f"completion: {answer['tokens_predicted']} tokens from model '{answer['model']}' "
      f"(random weights, so the text is noise): {answer['content']!r}")
PY

# The router: one OpenAI-compatible port for every instance. With demo stopped, a chat completion starts it.
router=http://127.0.0.1:8080
if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$router" 2>/dev/null; then
  step down demo
  printf '
$ curl -s %s/v1/chat/completions -d '"'"'{"model": "demo", "messages": [...]}'"'"'\n' "$router"
  python3 - "$router" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(f"{sys.argv[1]}/v1/chat/completions",
                                 data=json.dumps({"model": "demo", "max_tokens": 8,
                                                  "messages": [{"role": "user", "content": "Hello"}]}).encode(),
                                 headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(request, timeout=120))
print(f"chat completion through the router: {answer['usage']['completion_tokens']} tokens from '{answer['model']}'")
PY
  step ps
else
  echo "demo: the router does not answer on $router (the port may be taken; see 'llama-orch daemon status')"
fi

# The commands to go on with: the installed llama-orch when it is on the PATH, else this build's.
cli=llama-orch
if ! command -v llama-orch >/dev/null; then
  cli=$orch
  echo "demo: llama-orch is not on your PATH; scripts/install.sh installs it (then run these as 'llama-orch ...')"
fi
cat <<MSG

demo: the 'demo' instance is running under the llama-orch daemon (llama-server on port $port; the router,
  on $router, stops it after 10 minutes without requests when it started it).
  $cli ps               what runs
  $cli logs demo -f     its log
  $cli down demo        stop it
  $cli daemon stop      stop the daemon
MSG
