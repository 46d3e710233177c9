"""Peer signatures, replay protection, operator tokens and roles, failure limiting."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.keyring import (
    KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    TIMESTAMP_HEADER,
    Keyring,
    KeyringError,
    ReplayCache,
    nonce_from_bytes,
    sign,
    verify,
)
from protocol.roles import READ, REQUIRED_ROLE, Role, TokenStore, authorize, required_role
from protocol.security import AuthError, FailureLimiter, ForbiddenError, RateLimitedError

SECRET_A = b"a" * 32
SECRET_B = b"b" * 32
NOW = 1_700_000_000_000
BODY = b'{"envType":"Tell","msgType":"SyncGrid","msg":{}}'
PATH = "/messaging"


def nonce(n: int) -> str:
    return nonce_from_bytes(n.to_bytes(16, "big"))


def signed(keyring: Keyring, n: int = 1, ts: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return sign(keyring, "POST", PATH, body, ts, nonce(n))


def check(keyring: Keyring, headers: dict[str, str], **kwargs: Any) -> str | None:
    args: dict[str, Any] = {"method": "POST", "path": PATH, "body": BODY, "now_ms": NOW, "replay": ReplayCache()}
    args.update(kwargs)
    return verify(keyring, headers=headers, **args)


def code_of(keyring: Keyring, headers: dict[str, str], **kwargs: Any) -> str:
    with pytest.raises(AuthError) as caught:
        check(keyring, headers, **kwargs)
    assert caught.value.status == 401
    return caught.value.code


# -- signing -------------------------------------------------------------------------------


def test_sign_verify_round_trip() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = signed(keyring)
    assert list(headers) == list(SIGNATURE_HEADERS)
    assert headers[KEY_HEADER] == "k1" and headers[TIMESTAMP_HEADER] == str(NOW)
    assert check(keyring, headers) == "k1"


def test_header_names_are_case_insensitive() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = {name.lower(): value for name, value in signed(keyring).items()}
    assert check(keyring, headers) == "k1"


def test_method_case_does_not_matter() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = sign(keyring, "post", PATH, BODY, NOW, nonce(1))
    assert check(keyring, headers, method="POST") == "k1"


@pytest.mark.parametrize(
    "change",
    [
        {"body": BODY + b" "},
        {"path": "/messaging?x=1"},
        {"method": "GET"},
    ],
)
def test_tampered_request_is_a_bad_signature(change: dict[str, Any]) -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    assert code_of(keyring, signed(keyring), **change) == "bad_signature"


@pytest.mark.parametrize("header", [TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER])
def test_tampered_header_is_a_bad_signature(header: str) -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = signed(keyring)
    replacement = {TIMESTAMP_HEADER: str(NOW + 1), NONCE_HEADER: nonce(2), SIGNATURE_HEADER: "0" * 64}
    headers[header] = replacement[header]
    assert code_of(keyring, headers) == "bad_signature"


def test_wrong_secret_is_a_bad_signature() -> None:
    sender = Keyring.with_key("k1", SECRET_B)
    assert code_of(Keyring.with_key("k1", SECRET_A), signed(sender)) == "bad_signature"


def test_unknown_key_id() -> None:
    sender = Keyring.with_key("k2", SECRET_A)
    assert code_of(Keyring.with_key("k1", SECRET_A), signed(sender)) == "unknown_key"


@pytest.mark.parametrize("missing", SIGNATURE_HEADERS)
def test_missing_header(missing: str) -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = signed(keyring)
    del headers[missing]
    assert code_of(keyring, headers) == "missing_signature"


def test_no_headers_at_all() -> None:
    assert code_of(Keyring.with_key("k1", SECRET_A), {}) == "missing_signature"


@pytest.mark.parametrize(
    "header, value",
    [
        (TIMESTAMP_HEADER, "+1700000000000"),
        (TIMESTAMP_HEADER, "1.7e12"),
        (NONCE_HEADER, "short"),
        (NONCE_HEADER, "has space in it, twenty"),
        (SIGNATURE_HEADER, "zz" * 32),
        (SIGNATURE_HEADER, "é" * 64),
        (KEY_HEADER, "k 1"),
    ],
)
def test_malformed_header(header: str, value: str) -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = signed(keyring)
    headers[header] = value
    assert code_of(keyring, headers) == "malformed"


def test_duplicate_header_is_malformed() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    headers = signed(keyring)
    headers[SIGNATURE_HEADER.lower()] = headers[SIGNATURE_HEADER]
    assert code_of(keyring, headers) == "malformed"


def test_path_with_newline_is_malformed() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    assert code_of(keyring, signed(keyring), path="/messaging\nX") == "malformed"


def test_freshness_window() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    window = 30_000
    assert check(keyring, signed(keyring, ts=NOW - window)) == "k1"
    assert check(keyring, signed(keyring, ts=NOW + window)) == "k1"
    assert code_of(keyring, signed(keyring, ts=NOW - window - 1)) == "too_old"
    assert code_of(keyring, signed(keyring, ts=NOW + window + 1)) == "too_new"


def test_replayed_nonce_rejected() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    replay = ReplayCache()
    headers = signed(keyring)
    assert check(keyring, headers, replay=replay) == "k1"
    assert code_of(keyring, headers, replay=replay) == "replayed"
    assert code_of(keyring, headers, replay=replay, now_ms=NOW + 30_000) == "replayed"
    assert code_of(keyring, headers, replay=replay, now_ms=NOW + 30_001) == "too_old"


def test_forgeries_are_not_remembered() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    replay = ReplayCache()
    forged = signed(Keyring.with_key("k1", SECRET_B))
    assert code_of(keyring, forged, replay=replay) == "bad_signature"
    assert len(replay) == 0
    assert check(keyring, signed(keyring), replay=replay) == "k1"  # same nonce, now authentic


def test_open_mode_signs_and_checks_nothing() -> None:
    keyring = Keyring()
    assert keyring.is_open and keyring.active_id is None
    assert signed(keyring) == {}
    assert check(keyring, {}) is None


# -- keyring and rotation ----------------------------------------------------------------


def test_rotation_keeps_old_key_valid_until_removed() -> None:
    node = Keyring.with_key("old", SECRET_A)
    in_flight = signed(node, n=1)
    node.install("new", SECRET_B)
    assert node.active_id == "old"  # installing does not switch
    node.use("new")
    assert signed(node, n=2)[KEY_HEADER] == "new"
    assert check(node, in_flight) == "old"
    assert check(node, signed(node, n=3)) == "new"
    node.remove("old")
    assert node.ids() == ("new",)
    assert code_of(node, in_flight) == "unknown_key"


@pytest.mark.parametrize(
    "action, code",
    [
        (lambda k: k.remove("k1"), "active_key"),
        (lambda k: k.remove("nope"), "unknown_key"),
        (lambda k: k.use("nope"), "unknown_key"),
        (lambda k: k.install("k2", b"short"), "weak_secret"),
        (lambda k: k.install("k2", "a str, not bytes, long enough"), "weak_secret"),
        (lambda k: k.install("bad id", SECRET_B), "bad_key_id"),
        (lambda k: k.install("k1", SECRET_B), "key_conflict"),
    ],
)
def test_keyring_refuses(action: Any, code: str) -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    with pytest.raises(KeyringError) as caught:
        action(keyring)
    assert caught.value.code == code and caught.value.status == 400
    assert keyring.ids() == ("k1",) and keyring.active_id == "k1"


def test_reinstalling_same_secret_is_a_no_op_and_repr_hides_secrets() -> None:
    keyring = Keyring.with_key("k1", SECRET_A)
    keyring.install("k1", SECRET_A)
    assert keyring.ids() == ("k1",)
    assert "aaaa" not in repr(keyring)


# -- replay cache --------------------------------------------------------------------------


def test_replay_cache_full_of_live_nonces_is_overloaded() -> None:
    replay = ReplayCache(max_entries=2)
    replay.admit("n1", expires_at_ms=1_000, now_ms=0)
    replay.admit("n2", expires_at_ms=2_000, now_ms=0)
    with pytest.raises(RateLimitedError) as caught:
        replay.admit("n3", expires_at_ms=3_000, now_ms=500)
    assert caught.value.code == "overloaded" and caught.value.status == 429
    assert caught.value.retry_after_s == 1
    replay.admit("n3", expires_at_ms=3_000, now_ms=1_001)  # n1 expired: room again
    assert "n1" not in replay and len(replay) == 2


steps = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 50), st.integers(0, 40)),  # nonce, ttl, time step
    max_size=200,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps, max_entries=st.integers(1, 8))
def test_replay_cache_matches_model_and_stays_bounded(steps: list[tuple[int, int, int]], max_entries: int) -> None:
    """Against a trivial model: live nonces are refused, the bound is never exceeded."""
    replay, model, now = ReplayCache(max_entries), {}, 0
    for nonce_n, ttl, step in steps:
        now += step
        model = {n: exp for n, exp in model.items() if exp >= now}
        key = f"n{nonce_n}"
        if key in model:
            expected = "replayed"
        elif len(model) >= max_entries:
            expected = "overloaded"
        else:
            expected = "admitted"
            model[key] = now + ttl
        try:
            replay.admit(key, now + ttl, now)
            outcome = "admitted"
        except (AuthError, RateLimitedError) as exc:
            outcome = exc.code
        assert outcome == expected
        assert len(replay) == len(model) <= max_entries


# -- operator tokens and roles -------------------------------------------------------------


def _attributes(obj: Any) -> list[Any]:
    """Every attribute value of an instance, from ``__dict__`` and ``__slots__``."""
    values = list(getattr(obj, "__dict__", {}).values())
    for cls in type(obj).__mro__:
        values += [getattr(obj, name) for name in getattr(cls, "__slots__", ()) if hasattr(obj, name)]
    return values


def _contains(obj: Any, needle: str, seen: set[int] | None = None) -> bool:
    """Whether ``needle`` (as str or bytes) is anywhere in obj's attributes, recursively."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, type):
        return False
    seen.add(id(obj))
    if isinstance(obj, str):
        return needle in obj
    if isinstance(obj, bytes):
        return needle.encode() in obj
    if isinstance(obj, dict):
        return any(_contains(k, needle, seen) or _contains(v, needle, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(_contains(item, needle, seen) for item in obj)
    return any(_contains(value, needle, seen) for value in _attributes(obj))


TOKEN = "s3cret-operator-token"


def test_token_store_never_holds_the_plain_token() -> None:
    store = TokenStore()
    store.add(TOKEN, Role.MANAGER, "ops")
    store.add("viewer-token-123", Role.VIEWER, "wall")
    assert not _contains(store, TOKEN)
    assert _contains(store, hashlib.sha256(TOKEN.encode()).hexdigest())  # the digest is what is kept
    assert TOKEN not in repr(store)


@pytest.mark.parametrize("header", ["Bearer t1", "bearer t1", "  Bearer   t1 ", "t1", " t1 "])
def test_cli_token_accepted_as_bearer_or_plain(header: str) -> None:
    assert TokenStore.from_cli("t1").authenticate(header) is Role.ADMIN


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "t2", "Bearer t2", "Basic t1", "T1", "t1t1"])
def test_wrong_or_missing_token_rejected(header: str | None) -> None:
    assert TokenStore.from_cli("t1").authenticate(header) is None


def test_open_store_is_admin_for_everyone() -> None:
    store = TokenStore.from_cli(None)
    assert store.is_open
    assert store.authenticate(None) is Role.ADMIN


def test_token_store_roles_labels_and_removal() -> None:
    store = TokenStore()
    store.add("owner-token", Role.OWNER, "house-7")
    store.add("view-token", Role.VIEWER, "wall")
    assert store.authenticate("Bearer owner-token") is Role.OWNER
    grant = store.identify("view-token")
    assert grant is not None and grant.label == "wall" and grant.role is Role.VIEWER
    with pytest.raises(ValueError):
        store.add("owner-token", Role.ADMIN, "again")
    with pytest.raises(ValueError):
        store.add("other", Role.ADMIN, "wall")
    with pytest.raises(ValueError):
        store.add("has space", Role.ADMIN, "spacey")
    store.remove("house-7")
    assert store.labels() == ("wall",)
    assert store.authenticate("owner-token") is None


def test_roles_are_ordered() -> None:
    assert Role.VIEWER < Role.OWNER < Role.MANAGER < Role.ADMIN
    assert Role.parse(" Manager ") is Role.MANAGER and str(Role.ADMIN) == "admin"
    with pytest.raises(ValueError):
        Role.parse("root")


EXPECTED_ROLE = {
    READ: Role.VIEWER,
    "UpdateEnergy": Role.OWNER,
    "MeterReading": Role.OWNER,
    "Acknowledge": Role.OWNER,
    "AddSibling": Role.MANAGER,
    "RemoveSibling": Role.MANAGER,
    "SyncGrid": Role.MANAGER,
    "Control": Role.MANAGER,
    "Dispatch": Role.MANAGER,
    "KeyRotation": Role.MANAGER,
    "SomethingNew": Role.MANAGER,
}


@pytest.mark.parametrize("msg_type", sorted(EXPECTED_ROLE))
@pytest.mark.parametrize("role", list(Role))
def test_authorize_matrix(role: Role, msg_type: str) -> None:
    assert required_role(msg_type) is EXPECTED_ROLE[msg_type]
    if role >= EXPECTED_ROLE[msg_type]:
        authorize(role, msg_type)
    else:
        with pytest.raises(ForbiddenError) as caught:
            authorize(role, msg_type)
        assert caught.value.status == 403 and caught.value.to_json()["error"] == "forbidden"


def test_authorize_without_role_is_401() -> None:
    with pytest.raises(AuthError) as caught:
        authorize(None, READ)
    assert caught.value.status == 401 and caught.value.code == "unauthorized"


def test_required_role_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        REQUIRED_ROLE["UpdateEnergy"] = Role.VIEWER  # type: ignore[index]


# -- failure limiter -----------------------------------------------------------------------


def test_limiter_blocks_after_n_failures_then_unblocks() -> None:
    limiter = FailureLimiter(max_failures=10, window_ms=60_000, backoff_ms=30_000)
    for i in range(9):
        limiter.record_failure("10.0.0.1", NOW + i)
    assert limiter.check("10.0.0.1", NOW + 9) is None
    limiter.record_failure("10.0.0.1", NOW + 9)
    assert limiter.check("10.0.0.1", NOW + 9) == 30
    assert limiter.check("10.0.0.2", NOW + 9) is None  # others unaffected
    with pytest.raises(RateLimitedError) as caught:
        limiter.enforce("10.0.0.1", NOW + 20_009)
    assert caught.value.retry_after_s == 10 and caught.value.status == 429
    assert limiter.check("10.0.0.1", NOW + 9 + 30_000) is None


def test_limiter_forgets_failures_outside_the_window_and_on_success() -> None:
    limiter = FailureLimiter(max_failures=3, window_ms=1_000)
    limiter.record_failure("c", 0)
    limiter.record_failure("c", 500)
    limiter.record_failure("c", 1_200)  # the first one is out of the window
    assert limiter.check("c", 1_200) is None
    limiter.record_success("c")
    limiter.record_failure("c", 1_300)
    limiter.record_failure("c", 1_400)
    assert limiter.check("c", 1_400) is None


@given(clients=st.lists(st.text(max_size=5), max_size=300), max_clients=st.integers(1, 20))
def test_limiter_memory_is_bounded(clients: list[str], max_clients: int) -> None:
    limiter = FailureLimiter(max_failures=2, max_clients=max_clients)
    for i, client in enumerate(clients):
        limiter.record_failure(client, i)
        assert len(limiter) <= max_clients


# -- purity --------------------------------------------------------------------------------

PURE_MODULES = ("security.py", "keyring.py", "roles.py", "faults.py")
FORBIDDEN = {"aiohttp", "pykka", "typer", "asyncio", "threading", "socket", "time", "secrets", "datetime", "os"}


@pytest.mark.parametrize("name", PURE_MODULES)
def test_security_and_fault_modules_are_pure(name: str) -> None:
    """No I/O imports, no clock, and ``random`` only as the type of an injected generator."""
    path = Path(__file__).resolve().parents[2] / "protocol" / name
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots = {(node.module or "").split(".")[0]}
        else:
            roots = set()
        assert not roots & FORBIDDEN, f"{name} imports {roots & FORBIDDEN}"
        if isinstance(node, ast.ImportFrom):
            assert node.module != "random", f"{name} imports from random"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random":
            assert node.attr == "Random", f"{name} uses global random.{node.attr}"
