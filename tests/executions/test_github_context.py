"""What the analyst sees of the repository (cheaply, cached), reading one file, and GitHub App auth."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from executions.gateways import get_gateway
from executions.gateways.base import MAX_LISTED_PATHS, PublishError
from executions.gateways.github import GitHubGateway
from tests.fakes.github import SEED_FILES, make_execution, serving_github

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def test_context_is_branch_listing_and_readme_in_three_requests_then_cached(fake_github):
    context = get_gateway().context()

    assert context.name == "octo/widgets" and context.default_branch == "main"
    assert context.files == sorted(SEED_FILES)  # blobs only, no directory entries
    assert context.readme_excerpt == SEED_FILES["README.md"]
    assert "docs/TODO.md" in context.as_prompt()
    assert len(fake_github.requests) == 3

    assert get_gateway().context() == context  # a new gateway, same process: from the cache
    assert len(fake_github.requests) == 3


def test_context_is_refetched_after_its_ttl(fake_github, settings):
    settings.GITHUB_CONTEXT_TTL_SECONDS = 0
    get_gateway().context()

    get_gateway().context()

    assert len(fake_github.requests) == 6


def test_context_is_bounded_for_a_large_repository(settings):
    many = {f"src/pkg{i // 50}/module_{i}.py": "" for i in range(400)}
    readme = "# Big\n" + "A line of prose about the project.\n" * 500
    with serving_github(settings) as fake:
        fake.add_repo("octo/widgets", files={"README.md": readme, "setup.py": "", **many})

        context = get_gateway().context()

    assert len(context.files) == MAX_LISTED_PATHS
    assert {"README.md", "setup.py"} <= set(context.files)  # the shallowest paths are kept
    assert len(context.readme_excerpt.encode()) <= 4000 + 4 and context.readme_excerpt.endswith("\n…")
    assert readme.startswith(context.readme_excerpt.removesuffix("…"))


def test_read_file_reads_the_default_branch(fake_github):
    gateway = get_gateway()

    assert gateway.read_file("docs/TODO.md") == SEED_FILES["docs/TODO.md"]
    assert gateway.read_file("docs/MISSING.md") is None
    assert gateway.read_file("docs") is None  # a directory is not a file


def test_read_file_of_a_missing_repository_is_a_configuration_error(fake_github, settings):
    settings.GITHUB_REPOSITORY = "octo/gone"

    with pytest.raises(PublishError, match="octo/gone was not found"):
        get_gateway().read_file("docs/TODO.md")


# --- GitHub App installation auth -----------------------------------------------------------------


def rsa_pem_pair() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def app_key():
    return rsa_pem_pair()


@pytest.fixture
def app_github(settings, app_key):
    private, public = app_key
    with serving_github(settings, tokens=(), app_public_key=public) as fake:
        settings.GITHUB_TOKEN = ""
        settings.GITHUB_APP_ID = "12345"
        settings.GITHUB_APP_PRIVATE_KEY = private.replace("\n", "\\n")  # as one environment line
        settings.GITHUB_APP_INSTALLATION_ID = "678"
        yield fake


def test_app_installation_auth_gets_one_token_and_publishes(app_github, app_key):
    execution, change = make_execution()
    gateway = get_gateway()

    gateway.context()
    result = gateway.publish(execution, change, pr_body="A body.")

    [token_request] = app_github.requests_to("/app/installations/678/access_tokens", "POST")
    scheme, _, signed = token_request.headers["authorization"].partition(" ")
    assert scheme == "Bearer" and jwt.decode(signed, app_key[1], algorithms=["RS256"])["iss"] == "12345"
    others = [r for r in app_github.requests if r is not token_request]
    [used] = {r.headers["authorization"] for r in others}  # one installation token for everything
    assert used.startswith("token ghs_installation_")
    assert result.opened_pr and len(app_github.open_pulls()) == 1


def test_app_auth_with_a_key_github_does_not_know(app_github, settings):
    settings.GITHUB_APP_PRIVATE_KEY = rsa_pem_pair()[0]
    execution, change = make_execution()

    with pytest.raises(PublishError) as failure:
        GitHubGateway.from_settings().publish(execution, change, pr_body="A body.")

    assert str(failure.value) == (
        "GitHub rejected the GitHub App credentials (401): check GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY "
        "and GITHUB_APP_INSTALLATION_ID."
    )
    assert "PRIVATE KEY" not in str(failure.value)


def test_app_auth_with_an_unknown_installation(app_github):
    app_github.fail_on("POST", "/access_tokens", 404, {"message": "Not Found"})

    with pytest.raises(PublishError, match="installation 678 was not found .*GITHUB_APP_INSTALLATION_ID"):
        get_gateway().context()


def test_app_auth_with_a_garbled_key(app_github, settings):
    settings.GITHUB_APP_PRIVATE_KEY = (
        "-----BEGIN PRIVATE KEY-----\\nnot really a key\\n-----END PRIVATE KEY-----"
    )

    with pytest.raises(PublishError, match="GITHUB_APP_PRIVATE_KEY is not a usable RSA private key"):
        get_gateway().context()
    assert not app_github.requests
