"""The coder's input held at its model's published tokenizer count (tiktoken, offline) plus stated
allowances for the chat framing and the response schema; the byte bound for a model whose
tokenizer is not known. Over real HTTP: the openai SDK against the fake, which bills the cookbook's
count of what it received, as tiktoken's own ``o200k_base`` counts it."""

import gzip
import hashlib
import json
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import django
import pytest
import tiktoken
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from tiktoken_ext import openai_public

from budget.models import Overrun
from executions.backlog.services import create_task
from executions.changes.coder import CHANGE_SCHEMA
from executions.models import Execution
from executions.pipeline import steps
from executions.pipeline.runner import run_execution
from executions.providers import CompletionRequest, tokens
from executions.providers.openai import OpenAIProvider, params_for
from tests.conftest import PINNED_DAY
from tests.fakes.openai import API_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pinned_clock")]

# The cookbook's chat example ("How to count tokens with tiktoken", section 6) and the
# prompt_tokens the API billed for it: 124 on gpt-4o-mini (o200k_base), 129 on gpt-4 (cl100k_base).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
COOKBOOK_BILLED = {"gpt-4o-mini": 124, "gpt-4": 129}
URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """tiktoken's own encodings, built by its own constructors (tiktoken_ext.openai_public) from its
    download cache, which holds the files as the bpe-openai wheel ships them: no network."""
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name, url in URLS.items():
        path, _, _ = tokens.ENCODINGS[name]
        data = metadata.distribution(tokens.DATA_PACKAGE).locate_file(path).read_bytes()
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(gzip.decompress(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        specs = {"o200k_base": openai_public.o200k_base(), "cl100k_base": openai_public.cl100k_base()}
    return {name: (spec, tiktoken.Encoding(**spec)) for name, spec in specs.items()}


def cookbook_count(encoding: tiktoken.Encoding, messages: list[dict]) -> int:
    """The cookbook's num_tokens_from_messages: 3 a message, 1 a name, 3 priming the reply."""
    count = 3
    for message in messages:
        count += 3 + sum(len(encoding.encode_ordinary(v)) for v in message.values()) + ("name" in message)
    return count


def billed_as_sent(official_o200k: tiktoken.Encoding):
    """The fake's bill for a body: the cookbook's count of its messages, and its schema as compact
    JSON under a one-line heading (a model of the undocumented rendering, smaller than the count's)."""

    def bill(body: dict) -> int:
        schema = body.get("response_format", {}).get("json_schema")
        shown = schema_as_billed(schema) if schema else ""
        return cookbook_count(official_o200k, body["messages"]) + len(official_o200k.encode_ordinary(shown))

    return bill


def schema_as_billed(json_schema: dict) -> str:
    return f"# Response format\n{json.dumps(json_schema)}"


def request(
    user: str, *, model: str = "gpt-4o-mini", system: str = "You write code.", turns=()
) -> CompletionRequest:
    return CompletionRequest(
        model=model, system=system, user=user, max_tokens=8192, schema=CHANGE_SCHEMA, turns=tuple(turns)
    )


def provider() -> OpenAIProvider:
    return OpenAIProvider(api_key=API_KEY, max_retries=0)


# --- the encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_the_encodings_are_tiktokens_own(official, name):
    spec, reference = official[name]
    ours = tokens.encoding(name)
    assert ours._pat_str == spec["pat_str"]
    assert ours._mergeable_ranks == spec["mergeable_ranks"]
    django_sources = sorted(Path(django.__file__).parent.glob("utils/*.py"))[:12]
    texts = [p.read_text("utf-8") for p in django_sources] + ["héllo wörld 🎉 お誕生日おめでとう", "x" * 5000]
    for text in texts:
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4"])
def test_the_cookbook_example_counts_what_the_api_billed(official, model):
    name = tokens.encoding_name(model)
    assert name == {"gpt-4o-mini": "o200k_base", "gpt-4": "cl100k_base"}[model]
    assert cookbook_count(tokens.encoding(name), COOKBOOK_MESSAGES) == COOKBOOK_BILLED[model]

    counted = tokens.chat_input_tokens({"model": model, "messages": COOKBOOK_MESSAGES})

    # The same text tokens, framed at the stated allowances instead of the cookbook's 3 + 1 + 3.
    text_tokens = COOKBOOK_BILLED[model] - 3 * len(COOKBOOK_MESSAGES) - 4 - 3
    assert counted == (
        text_tokens + len(COOKBOOK_MESSAGES) * tokens.MESSAGE_FRAMING_TOKENS + tokens.REPLY_PRIMING_TOKENS,
        name,
    )
    assert counted.tokens >= COOKBOOK_BILLED[model]


def test_models_map_to_their_published_encodings():
    assert {
        m: tokens.encoding_name(m) for m in ("gpt-4o-mini", "gpt-4o-2024-08-06", "gpt-4.1-mini", "o3-mini")
    } == {
        "gpt-4o-mini": "o200k_base",
        "gpt-4o-2024-08-06": "o200k_base",
        "gpt-4.1-mini": "o200k_base",
        "o3-mini": "o200k_base",
    }
    assert tokens.encoding_name("gpt-3.5-turbo") == "cl100k_base"
    assert tokens.encoding_name("gpt-6-luna") is None  # no published tokenizer
    assert tokens.encoding_name("gpt-oss-120b") is None  # o200k_harmony: not shipped, not counted


# --- the provider's count -----------------------------------------------------------------------


def test_a_model_without_a_known_tokenizer_keeps_the_byte_bound():
    luna = request("Add a health check endpoint.", model="gpt-6-luna")

    count = provider().count_input(luna)

    assert count.tokens == count.bound == luna.input_token_bound()
    assert count.how == "byte bound: no tokenizer known for gpt-6-luna"
    assert provider().input_token_bound(luna) == luna.input_token_bound()


def test_an_encoding_file_that_is_not_tiktokens_is_not_used(monkeypatch):
    path, _, pattern = tokens.ENCODINGS["o200k_base"]
    monkeypatch.setitem(tokens.ENCODINGS, "o200k_base", (path, "0" * 64, pattern))
    monkeypatch.setattr(tokens, "_loaded", {})
    mini = request("Add a health check endpoint.")

    count = provider().count_input(mini)

    assert count.tokens == count.bound == mini.input_token_bound()


def test_a_parameter_the_count_does_not_know_is_not_counted():
    params = params_for(request("Add a health check endpoint."))
    assert tokens.chat_input_tokens(params) is not None
    assert tokens.chat_input_tokens({**params, "tools": [{"type": "function"}]}) is None
    assert tokens.chat_input_tokens({**params, "response_format": {"type": "json_object"}}) is None


def test_real_code_is_held_at_a_fraction_of_its_bytes(official):
    sources = sorted(Path(django.__file__).parent.glob("db/models/*.py"))
    code = "".join(f'<file path="{p.name}">\n{p.read_text("utf-8")}</file>\n' for p in sources)
    big = request(f"Implementation plan:\nRefactor the query layer.\n\n{code}")

    count = provider().count_input(big)

    assert count.bound == big.input_token_bound() > 400_000
    assert count.how == f"counted with o200k_base: held at {count.tokens:,} tokens"
    assert count.tokens * 4 < count.bound  # code is about 4.7 bytes a token
    _, reference = official["o200k_base"]
    assert count.tokens >= billed_as_sent(reference)(params_for(big))


def test_a_further_try_at_its_caps_holds_its_stand_ins_at_their_bytes():
    _, codegen = steps.configured_steps(on=PINNED_DAY.date())
    prompt = request("Add a health check endpoint.")
    at_caps = steps.reflection_at_caps(codegen, prompt)
    stand_ins = sum(len(turn.encode()) for turn in at_caps.turns)

    held = provider().input_token_bound(at_caps)

    # "x" * n is n / 8 tokens: counted so, the bound would be far below a real answer's.
    assert held >= provider().input_token_bound(prompt) + stand_ins
    assert held <= at_caps.input_token_bound()


@hypothesis_settings(max_examples=15, deadline=None)
@given(
    answer=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
    failures=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
)
def test_any_further_try_is_within_the_bound_at_its_caps(answer, failures):
    """An answer and a failure message of any text, as long as they may be (``reflection_request``
    cuts them to their caps), are never counted above the bound at the caps."""
    _, codegen = steps.configured_steps(on=PINNED_DAY.date())
    prompt = request("Add a health check endpoint.")
    long = 200_000 // len(answer.encode()) + 1, 200_000 // len(failures.encode()) + 1
    real = steps.reflection_request(codegen, prompt, answer * long[0], failures * long[1])

    assert provider().input_token_bound(real) <= provider().input_token_bound(
        steps.reflection_at_caps(codegen, prompt)
    )


# --- over HTTP: what the fake received ----------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=600) | st.sampled_from(
    [
        "<|endoftext|>",
        "<|im_start|>user<|im_sep|>",
        "\n" * 40,
        " " * 300,
        "🎉" * 50,
        "def f():\n    return 1\n",
    ]
)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(system=texts, user=texts, turns=st.lists(texts, max_size=2))
def test_the_count_holds_what_the_fake_bills_for_what_it_received(openai_fake, official, system, user, turns):
    """Over random prompts: the fake bills the cookbook's count of the body it received (by
    tiktoken's own o200k_base); the count held for the request is never below it, and above it by
    no more than the stated allowances."""
    _, reference = official["o200k_base"]
    openai_fake.tokenizer = billed_as_sent(reference)
    sent = request(user, system=system, turns=turns)

    completion = provider().complete(sent)

    body = openai_fake.completions()[-1]
    assert body == json.loads(json.dumps(params_for(sent)))  # what was counted is what was sent
    held = provider().input_token_bound(sent)
    billed = completion.usage.input_tokens
    messages = len(body["messages"])
    schema = body["response_format"]["json_schema"]
    schema_counted = (
        len(reference.encode_ordinary(json.dumps(schema, indent=2))) + tokens.SCHEMA_FRAMING_TOKENS
    )
    schema_billed = len(reference.encode_ordinary(schema_as_billed(schema)))
    framing = messages * (tokens.MESSAGE_FRAMING_TOKENS - 3) + tokens.REPLY_PRIMING_TOKENS - 3
    allowances = framing + schema_counted - schema_billed
    assert billed <= held == billed + allowances


def test_an_execution_is_held_at_the_coders_count_and_billed_within_it(live, official):
    """The coder's request as the pipeline sends it (the plan's files in it): held at its count,
    tightened to it after the plan, and the fake's bill for what it received is within it."""
    _, openai_fake = live
    _, reference = official["o200k_base"]
    openai_fake.tokenizer = billed_as_sent(reference)

    execution = run_execution(create_task(title="Add a health check endpoint"))

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert not Overrun.objects.exists()
    [body] = openai_fake.completions()
    [call] = execution.calls.filter(step="codegen")
    sent = CompletionRequest(
        model=body["model"],
        system=body["messages"][0]["content"],
        user=body["messages"][1]["content"],
        max_tokens=body["max_completion_tokens"],
        schema=body["response_format"]["json_schema"]["schema"],
        temperature=body.get("temperature"),
    )
    assert json.loads(json.dumps(params_for(sent))) == body
    count = provider().count_input(sent)
    assert call.input_tokens == billed_as_sent(reference)(body) <= count.tokens < count.bound
    assert count.how.startswith("counted with o200k_base")


def test_the_reflection_bound_is_not_lowered_by_replacing_stand_ins():
    """``at_caps`` marks only the bound's stand-ins: a real further try is counted as sent."""
    _, codegen = steps.configured_steps(on=PINNED_DAY.date())
    prompt = request("Add a health check endpoint.")
    real = steps.reflection_request(codegen, prompt, "x" * 4000, "y" * 4000)
    assert not real.at_caps
    assert provider().input_token_bound(real) < provider().input_token_bound(replace(real, at_caps=True))
