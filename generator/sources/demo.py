"""The embedded demo: 90 days of realistic Bedrock invocation logs, seeded and deterministic.

Writes records exactly as Bedrock delivers them to S3 (gzipped JSON lines in the dated key
layout, plus a body-offload object and the permission-check object) so the demo exercises the
real `files` parsing path. It only writes files; it never aggregates or prices.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generator.usage import floor_hour

ACCOUNT = "123456789012"
REGION = "us-east-1"
DAYS = 90
SEED = 20250311
_IAM = f"arn:aws:iam::{ACCOUNT}:"
_STS = f"arn:aws:sts::{ACCOUNT}:"
SONNET_4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"
IMAGE_MODEL = "amazon.nova-canvas-v1:0"  # billed per image: its records carry no token counts
# Billed per model unit per hour, not per token: its calls stay unpriced, as they would in a real account.
PROVISIONED = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/q7h2k9x4m1ab"
EU_REGION = "eu-west-1"  # where callers of eu. profiles are
APP_PROFILE = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/rsch4k2m9x1z"


@dataclass(frozen=True)
class Persona:
    principals: tuple[str, ...]
    per_hour: float  # mean invocations per active hour
    office_hours_only: bool
    models: tuple[tuple[str, int], ...]  # (model id as the caller passes it, weight)
    caching: bool  # a coding agent that re-reads a cached prompt
    # request metadata the caller sends: (user_id values, application_name, share of calls that carry it)
    metadata: tuple[tuple[str, ...], str, float] | None = None
    added: bool = False  # drawn from its own random stream, so the other personas' records stay as they were


PERSONAS = (
    Persona(
        (_IAM + "user/peterdir", _STS + "assumed-role/bedrock-peterdir/botocore-session-1761000000",
         _IAM + "user/aider", _IAM + "user/dirkcli"),
        6.0, False,
        (("global.anthropic.claude-sonnet-4-5-20250929-v1:0", 45),
         ("us.anthropic.claude-opus-4-1-20250805-v1:0", 12),
         (f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/{SONNET_4}", 23),
         ("us.anthropic.claude-haiku-4-5-20251001-v1:0", 20),
         ("global.anthropic.claude-opus-4-7", 15)),
        True,
    ),
    Persona(
        (_STS + "assumed-role/AWSReservedSSO_BedrockUsers_0a1b2c3d4e5f6789/alice@example.com",),
        3.0, True,
        (("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 60),
         ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", 25),
         ("eu.amazon.nova-pro-v1:0", 15)),
        True,
    ),
    Persona(
        (_STS + "federated-user/bob",), 2.0, True,
        (("anthropic.claude-3-5-haiku-20241022-v1:0", 50),
         ("meta.llama3-1-70b-instruct-v1:0", 30),
         ("mistral.mistral-large-2407-v1:0", 20)),
        False,
    ),
    Persona(
        (_IAM + "user/engineering/carol",), 2.0, True,
        ((SONNET_4, 50), ("amazon.nova-lite-v1:0", 30), ("anthropic.claude-3-haiku-20240307-v1:0", 20),
         (IMAGE_MODEL, 4)),
        True,
    ),
    Persona(
        (_STS + "assumed-role/bedrock-dave/dave-laptop",), 1.5, True,
        (("global.anthropic.claude-haiku-4-5-20251001-v1:0", 70), ("us.writer.palmyra-x5-v1:0", 20),
         (PROVISIONED, 10)),
        True,
    ),
    Persona(
        (_STS + "assumed-role/DeveloperAccess/frank",), 1.0, True,
        (("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 60), ("openai.gpt-oss-120b-1:0", 40)),
        True,
    ),
    Persona(
        (_STS + "assumed-role/support-bot-lambda/support-bot-lambda",), 4.0, False,
        (("us.amazon.nova-micro-v1:0", 50), ("amazon.nova-lite-v1:0", 30),
         ("anthropic.claude-3-haiku-20240307-v1:0", 20)),
        False,
        # most of its calls name the support agent they answer for, and the app
        (("erin", "gus", "hana", "ivan"), "helpdesk", 0.8),
    ),
    # The research team's assistant calls Claude through an application inference profile tagged team=research.
    Persona(
        (_STS + "assumed-role/research-assistant/research-assistant",), 1.0, True,
        ((APP_PROFILE, 100),), True, (("carol", "ivan"), "research-assistant", 1.0), added=True,
    ),
    # A long-term Bedrock API key: an IAM user named for the key.
    Persona((_IAM + "user/BedrockAPIKey-7f3kq2",), 0.05, True, (("us.amazon.nova-micro-v1:0", 1),), False, added=True),
)  # fmt: skip

PROMPTS = (
    "Refactor the billing module to use Decimal.",
    "Why does this test fail on CI but not locally?",
    "Summarise this support ticket for the on-call engineer.",
    "Write a migration that adds an index on invoices(created_at).",
    "Explain the difference between these two retry strategies.",
)


def write_demo_logs(folder: Path, now: datetime, seed: int = SEED) -> int:
    """Write 90 days of demo records ending at `now` into `folder`; return how many."""
    rng, extra = random.Random(seed), random.Random(seed + 1)
    end = floor_hour(now)
    base = folder / "AWSLogs" / ACCOUNT / "BedrockModelInvocationLogs" / REGION
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "amazon-bedrock-logs-permission-check").write_bytes(b"")
    written = 0
    for back in range(DAYS * 24, 0, -1):
        hour = end - timedelta(hours=back)
        lines = [json.dumps(r, separators=(",", ":")) for r in _hour_records(rng, hour, extra)]
        if not lines:
            continue
        hour_dir = base / hour.strftime("%Y/%m/%d/%H")
        hour_dir.mkdir(parents=True, exist_ok=True)
        name = f"{hour.strftime('%Y%m%dT%H%M%S')}{rng.randrange(1000):03d}Z_{rng.getrandbits(64):016x}.json.gz"
        (hour_dir / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))
        written += len(lines)
        if back == 30:  # one large body offloaded to S3, as Bedrock does for bodies over ~100 KB
            (hour_dir / "data").mkdir(exist_ok=True)
            body = gzip.compress(json.dumps({"messages": ["..." * 40000]}).encode(), mtime=0)
            (hour_dir / "data" / f"{uuid.UUID(int=rng.getrandbits(128))}_input.json.gz").write_bytes(body)
    return written


def _hour_records(rng: random.Random, hour: datetime, extra: random.Random) -> list[dict[str, object]]:
    office = hour.weekday() < 5 and 7 <= hour.hour < 19
    records = []
    for persona in PERSONAS:
        mean = persona.per_hour * (1.0 if office else 0.0 if persona.office_hours_only else 0.5)
        draw = extra if persona.added else rng
        for _ in range(_poisson(draw, mean)):
            stamp = hour + timedelta(seconds=draw.randrange(3600))
            records.append(_record(draw, persona, stamp))
            if persona.metadata is not None and extra.random() < persona.metadata[2]:
                users, app, _ = persona.metadata
                records[-1]["requestMetadata"] = {"user_id": extra.choice(users), "application_name": app}
    records.sort(key=lambda r: str(r["timestamp"]))
    return records


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0) if mean else 2.0
    while mean and total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _record(rng: random.Random, persona: Persona, stamp: datetime) -> dict[str, object]:
    models, weights = zip(*persona.models, strict=True)
    model = rng.choices(models, weights)[0]
    prompt = rng.choice(PROMPTS)
    record: dict[str, object] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accountId": ACCOUNT,
        "identity": {"arn": rng.choice(persona.principals)},
        "region": EU_REGION if model.startswith("eu.") else REGION,
        "requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "operation": rng.choice(("Converse", "ConverseStream", "InvokeModel")),
        "modelId": model,
        "inferenceRegion": rng.choice(
            ("eu-west-1", "eu-central-1", "eu-west-3")
            if model.startswith("eu.")
            else (REGION, "us-east-2", "us-west-2")
        ),
    }
    roll = rng.random()
    if roll < 0.02:  # failed call: an error code and no token counts
        record["errorCode"] = rng.choice(("ThrottlingException", "ValidationException"))
        record["input"] = {"inputContentType": "application/json", "inputBodyJson": {"messages": [prompt]}}
        return record
    if roll < 0.025:  # guardrail-blocked: no inference region and no token counts
        del record["inferenceRegion"]
        record["input"] = {"inputContentType": "application/json"}
        record["output"] = {"outputContentType": "application/json"}
        return record
    if model == IMAGE_MODEL:
        record["input"] = {"inputContentType": "application/json"}
        record["output"] = {"outputContentType": "application/json"}
        return record
    cached = persona.caching and "anthropic" in model and "claude-3-haiku" not in model
    record["input"] = {
        "inputContentType": "application/json",
        "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": prompt}]}]},
        "inputTokenCount": rng.randint(20, 4000) if cached else rng.randint(200, 6000),
        "cacheReadInputTokenCount": rng.randint(5000, 120000) if cached and rng.random() < 0.85 else 0,
        "cacheWriteInputTokenCount": rng.randint(500, 12000) if cached and rng.random() < 0.4 else 0,
    }
    record["output"] = {
        "outputContentType": "application/json",
        "outputBodyJson": {"output": {"message": {"role": "assistant", "content": [{"text": "Done."}]}}},
        "outputTokenCount": rng.randint(50, 2500),
    }
    if rng.random() < 0.3:  # Bedrock does not promise a key order
        record = dict(reversed(list(record.items())))
    return record
