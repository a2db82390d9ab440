"""The base commit on GitHub (its head, its file list, its files by blob), reading one file, and
GitHub App auth."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from executions.repositories.base import PublishError
from executions.repositories.gateways import get_gateway
from executions.repositories.github import GitHubGateway
from tests.fakes.github import SEED_FILES, make_execution, serving_github

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_github(settings):
    with serving_github(settings) as fake:
        yield fake


def test_snapshot_is_the_base_branchs_head_and_its_files_come_from_the_tree(fake_github):
    gateway = get_gateway()

    snapshot = gateway.snapshot()
    files = gateway.list_files(snapshot.commit_sha)

    assert (snapshot.name, snapshot.default_branch) == ("octo/widgets", "main")
    assert snapshot.commit_sha == fake_github.branch_head("main")
    assert files == {path: len(content.encode()) for path, content in SEED_FILES.items()}  # blobs only


def test_files_are_read_at_the_snapshots_commit_through_the_blob_api(fake_github):
    gateway = get_gateway()
    snapshot = gateway.snapshot()
    fake_github.add_repo("octo/widgets", files={"README.md": "# Moved on\n"})  # main moves later

    read = get_gateway().read_files(snapshot.commit_sha, ["README.md", "docs/TODO.md", "docs", "gone.md"])

    assert read == {
        "README.md": SEED_FILES["README.md"].encode(),
        "docs/TODO.md": SEED_FILES["docs/TODO.md"].encode(),
    }
    assert len(fake_github.requests_to(f"/git/blobs/{_blob(fake_github, snapshot, 'README.md')}", "GET")) == 1


def _blob(fake, snapshot, path):
    return fake.trees[fake.commits[snapshot.commit_sha]["tree"]][path]


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

    gateway.snapshot()
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
        get_gateway().snapshot()


def test_app_auth_with_a_garbled_key(app_github, settings):
    settings.GITHUB_APP_PRIVATE_KEY = (
        "-----BEGIN PRIVATE KEY-----\\nnot really a key\\n-----END PRIVATE KEY-----"
    )

    with pytest.raises(PublishError, match="GITHUB_APP_PRIVATE_KEY is not a usable RSA private key"):
        get_gateway().snapshot()
    assert not app_github.requests
