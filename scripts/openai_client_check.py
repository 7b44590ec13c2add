#!/usr/bin/env python3
"""The router as a real OpenAI client sees it: lists the models, then streams a chat completion.

Usage: openai_client_check.py BASE_URL MODEL
Prints one JSON line: the model ids listed, the stream's events and content pieces, the text and the finish
reason. Exits 1 when the client raises (the error is printed), 2 when the 'openai' package is missing.
"""
import json
import sys

try:
    from openai import OpenAI
except ImportError:
    print("openai_client_check.py: the Python package 'openai' is missing; run: pip install openai "
          "(scripts/setup.sh installs it)", file=sys.stderr)
    sys.exit(2)

base_url, model = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url + "/v1", api_key="unused-on-loopback", max_retries=0, timeout=180)
try:
    models = [listed.id for listed in client.models.list()]
    events, pieces, finish_reason = 0, [], None
    # ignore_eos (llama-server's): the test model's sampling is random and may end before its first token.
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hi"}], stream=True, max_tokens=8,
        extra_body={"ignore_eos": True})
    for chunk in stream:
        events += 1
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
except Exception as error:  # the client's own exception types; the test shows the message
    print(f"openai_client_check.py: {type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"models": models, "events": events, "pieces": len(pieces), "text": "".join(pieces),
                  "finish_reason": finish_reason}))
