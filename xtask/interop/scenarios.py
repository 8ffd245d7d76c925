"""The scenarios of `cargo xtask interop`: echo-appservice against a real Synapse.

Run by xtask (xtask/src/interop.rs) with the venv's python, after Synapse and the echo are up;
standard library only. It acts as the human users through the Client-Server API and checks what
they see, plus the echo's log (debug level, no colours) for what only the appservice sees.

Environment (set by xtask): INTEROP_HS_URL, INTEROP_AS_ID, INTEROP_AS_TOKEN,
INTEROP_SHARED_SECRET, INTEROP_SERVER_NAME, INTEROP_ECHO_LOG, INTEROP_SYNAPSE_LOG,
INTEROP_IDENTITY_CHECK, INTEROP_REPLICA_LOGS (comma-separated), INTEROP_WEBHOOK_URL and
INTEROP_WEBHOOK_TOKEN (the webhook bridge, examples/webhook: scenario 12).

The echo is restarted through xtask: a line `@control echo stop|kill|start [fail=N]` on stdout,
answered by `ok` or `error: ...` on stdin. The replica scenarios (9-11) use
`@control replicas start`, `@control replica kill|start N` and `@control postgres restart`: two
echo replicas on one PostgreSQL database behind HAProxy at the registration's url.

Output: one line per scenario, `PASS name` or `FAIL name: why`, then `N passed, N failed`;
the exit code is 1 if anything failed.
"""

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HS = os.environ["INTEROP_HS_URL"]
AS_ID = os.environ["INTEROP_AS_ID"]
AS_TOKEN = os.environ["INTEROP_AS_TOKEN"]
SHARED_SECRET = os.environ["INTEROP_SHARED_SECRET"]
SERVER = os.environ["INTEROP_SERVER_NAME"]
ECHO_LOG = os.environ["INTEROP_ECHO_LOG"]
SYNAPSE_LOG = os.environ["INTEROP_SYNAPSE_LOG"]
IDENTITY_CHECK = os.environ["INTEROP_IDENTITY_CHECK"]
WEBHOOK_URL = os.environ.get("INTEROP_WEBHOOK_URL")
WEBHOOK_TOKEN = os.environ.get("INTEROP_WEBHOOK_TOKEN")
REPLICA_LOGS = os.environ["INTEROP_REPLICA_LOGS"].split(",")

BOT = f"@_echo_bot:{SERVER}"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Failure(Exception):
    """A scenario's assertion failed; the message says what the user saw instead."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def info(message):
    print(f"    {message}", flush=True)


# ---------------------------------------------------------------- HTTP


def request(method, path, token=None, body=None, query=None, expect=200):
    """One Client-Server API call; returns (status, JSON body). With `expect`, any other
    status fails the scenario."""
    url = HS + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {"_raw": raw.decode(errors="replace")}
    if expect is not None and status != expect:
        raise Failure(f"{method} {path} answered {status} {answer}, expected {expect}")
    return status, answer


def quote(s):
    return urllib.parse.quote(s, safe="")


def poll(what, fn, timeout=20.0, interval=0.2):
    """Calls fn until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- users and rooms


def register_user(localpart, admin=False):
    """A user created through the shared-secret admin API; returns its access token."""
    _, answer = request("GET", "/_synapse/admin/v1/register")
    nonce = answer["nonce"]
    password = "interop-" + localpart
    mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                             b"admin" if admin else b"notadmin"]))
    request("POST", "/_synapse/admin/v1/register", body={
        "nonce": nonce, "username": localpart, "password": password, "admin": admin,
        "mac": mac.hexdigest(),
    })
    _, login = request("POST", "/_matrix/client/v3/login", body={
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": localpart},
        "password": password,
    })
    return login["access_token"]


TXN = [0]


def send_text(token, room_id, body):
    TXN[0] += 1
    _, answer = request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/"
                        f"interop-{time.time_ns()}-{TXN[0]}", token,
                        {"msgtype": "m.text", "body": body})
    return answer["event_id"]


def get_event(token, room_id, event_id):
    _, event = request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(event_id)}",
                       token)
    return event


def messages(token, room_id):
    """Every m.room.message of the room, oldest first."""
    out, since = [], None
    while True:
        query = {"dir": "b", "limit": "100"}
        if since:
            query["from"] = since
        _, page = request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages", token,
                          query=query)
        out.extend(e for e in page.get("chunk", []) if e.get("type") == "m.room.message")
        since = page.get("end")
        if not page.get("chunk") or not since:
            return list(reversed(out))


def notices(token, room_id, sender):
    return [e for e in messages(token, room_id)
            if e.get("sender") == sender and e["content"].get("msgtype") == "m.notice"]


def membership(token, room_id, user_id):
    status, content = request(
        "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.member/{quote(user_id)}",
        token, expect=None)
    return content.get("membership") if status == 200 else None


def user_exists(admin_token, user_id):
    status, _ = request("GET", f"/_synapse/admin/v2/users/{quote(user_id)}", admin_token,
                        expect=None)
    return status == 200


# ---------------------------------------------------------------- the echo's log


def echo_log(offset=0, path=ECHO_LOG):
    """The echo's (or another) log's lines, without colours, after byte `offset`."""
    with open(path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    return [ANSI.sub("", line) for line in text.splitlines()]


def echo_log_size():
    return os.path.getsize(ECHO_LOG)


def synapse_log_lines(offset, *needles):
    """Synapse's log lines after byte `offset` that contain every needle (Synapse's own
    messages, pinned to its version)."""
    return [line for line in echo_log(offset, SYNAPSE_LOG) if all(n in line for n in needles)]


def log_lines(offset, *needles):
    return [line for line in echo_log(offset) if all(n in line for n in needles)]


# appservice-tower's line per answered transaction (INFO `appservice_tower::core`).
TXN_LINE = re.compile(
    r"appservice_tower::core: transaction .*?\btxn_id=\"?([^\"\s]+)\"?.*?\bstatus=(\d+)")


def transactions(offset=0):
    """(txn_id, status) of every transaction the echo answered, in order."""
    out = []
    for line in echo_log(offset):
        m = TXN_LINE.search(line)
        if m:
            out.append((m.group(1), int(m.group(2))))
    return out


def wait_quiet(seconds=1.5, timeout=20.0):
    """Waits until the echo has answered no transaction for `seconds` (Synapse's queue for
    the appservice is empty then: it pushes new events within milliseconds)."""
    def quiet():
        before = len(transactions())
        time.sleep(seconds)
        return len(transactions()) == before
    poll("the echo to go quiet", quiet, timeout=timeout, interval=0)


def control(command):
    print(f"@control {command}", flush=True)
    answer = sys.stdin.readline().strip()
    check(answer == "ok", f"xtask could not `{command}`: {answer or 'no answer'}")


# ---------------------------------------------------------------- scenarios

STATE = {}


def need(*keys):
    """What earlier scenarios left in STATE (a failed one leaves nothing)."""
    missing = [k for k in keys if k not in STATE]
    check(not missing, f"needs {', '.join(missing)} from an earlier scenario that failed")
    return [STATE[k] for k in keys]


def echoed_once(token, room_id, sender, bodies, settle=2.5, timeout=30.0):
    """Waits until every body was echoed by `sender`, waits `settle` seconds more for late
    duplicates, and checks that each body was echoed exactly once; returns the notices and
    how long the echoes took to appear."""
    started = time.monotonic()

    def all_there():
        seen = [e["content"].get("body") for e in notices(token, room_id, sender)]
        return all(b in seen for b in bodies)
    poll(f"echoes of {bodies}", all_there, timeout=timeout)
    took = time.monotonic() - started
    time.sleep(settle)
    found = notices(token, room_id, sender)
    for body in bodies:
        count = sum(1 for e in found if e["content"].get("body") == body)
        check(count == 1, f"{body!r} was echoed {count} times")
    return found, took


def s1_echo():
    """A user creates a room and invites the bot; the bot joins; `!echo hello` gets an
    m.notice "hello" from @_echo_<user> with the original's origin_server_ts."""
    alice = register_user("alice")
    admin = register_user("interop_admin", admin=True)
    STATE.update(alice=alice, admin=admin)
    _, room = request("POST", "/_matrix/client/v3/createRoom", alice,
                      {"preset": "private_chat", "name": "interop"})
    room_id = room["room_id"]
    request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/invite", alice, {"user_id": BOT})
    poll("the bot to join", lambda: membership(alice, room_id, BOT) == "join")
    original_id = send_text(alice, room_id, "!echo hello")
    original = get_event(alice, room_id, original_id)
    echo_user = f"@_echo_alice:{SERVER}"
    found, _ = echoed_once(alice, room_id, echo_user, ["hello"], settle=1.0)
    notice = next(e for e in found if e["content"].get("body") == "hello")
    check(notice["content"].get("msgtype") == "m.notice", f"not an m.notice: {notice['content']}")
    check(notice["origin_server_ts"] == original["origin_server_ts"],
          f"origin_server_ts {notice['origin_server_ts']} != the original's "
          f"{original['origin_server_ts']}")
    STATE.update(room_id=room_id, echo_user=echo_user, notice_id=notice["event_id"])
    info(f"room {room_id}; {echo_user} answered {notice['event_id']}")


def s2_ephemeral():
    """Typing and a read receipt from the user reach the appservice as ephemeral data."""
    alice, room_id, notice_id = need("alice", "room_id", "notice_id")
    offset = echo_log_size()
    user = f"@alice:{SERVER}"
    request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/typing/{quote(user)}", alice,
            {"typing": True, "timeout": 30000})
    request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/receipt/m.read/"
            f"{quote(notice_id)}", alice, {})
    # The echo logs each at debug level: `typing room_id=… user_ids=[…]`,
    # `receipt room_id=… event_ids=[…] user_ids={…}`.
    poll("the echo's `typing` log line for alice",
         lambda: log_lines(offset, " typing ", f"room_id={room_id}", user), timeout=10)
    poll("the echo's `receipt` log line for alice's receipt on the notice",
         lambda: log_lines(offset, " receipt ", f"room_id={room_id}", notice_id, user), timeout=10)
    request("PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/typing/{quote(user)}", alice,
            {"typing": False})


def s3_user_query():
    """Inviting an unknown @_echo_x triggers a user query; the user exists afterwards."""
    alice, admin, room_id = need("alice", "admin", "room_id")
    target = f"@_echo_x:{SERVER}"
    check(not user_exists(admin, target), f"{target} exists before the invite")
    offset = echo_log_size()
    request("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/invite", alice,
            {"user_id": target})
    poll("the echo's `user query: registered` log line",
         lambda: log_lines(offset, "user query: registered", f"user_id={target}"), timeout=10)
    poll(f"{target} to exist (admin API)", lambda: user_exists(admin, target), timeout=10)
    check(membership(alice, room_id, target) == "invite", f"{target} is not invited")


def s4_alias_query():
    """Resolving #_echo_room triggers an alias query; the alias resolves to the created room."""
    alice, admin = need("alice", "admin")
    alias = f"#_echo_room:{SERVER}"
    offset = echo_log_size()
    _, answer = request("GET", f"/_matrix/client/v3/directory/room/{quote(alias)}", alice)
    room_id = answer.get("room_id")
    check(room_id, f"no room_id in {answer}")
    created = log_lines(offset, "alias query: room created", f"alias={alias}")
    check(created, "the echo did not log `alias query: room created` for the alias")
    check(f"room_id={room_id}" in created[0], f"the echo created another room: {created[0]}")
    _, details = request("GET", f"/_synapse/admin/v1/rooms/{quote(room_id)}", admin)
    check(details.get("canonical_alias") == alias, f"canonical alias {details.get('canonical_alias')}")
    check(details.get("creator") == BOT, f"room creator {details.get('creator')}, not the bot")
    _, again = request("GET", f"/_matrix/client/v3/directory/room/{quote(alias)}", alice)
    check(again.get("room_id") == room_id, f"second lookup gave {again}")
    check(len(log_lines(offset, "alias query: room created")) == 1, "the room was created twice")
    # An alias in the namespace that the echo refuses (empty name) is not found.
    status, refused = request("GET", f"/_matrix/client/v3/directory/room/{quote('#_echo_:' + SERVER)}",
                              alice, expect=None)
    check((status, refused.get("errcode")) == (404, "M_NOT_FOUND"),
          f"refused alias answered {status} {refused}")


def s5_ping():
    """The appservice's ping round-trips (duration_ms); a wrong appservice id is refused."""
    txn = f"interop-ping-{time.time_ns()}"
    offset = echo_log_size()
    _, answer = request("POST", f"/_matrix/client/v1/appservice/{quote(AS_ID)}/ping", AS_TOKEN,
                        {"transaction_id": txn})
    check(isinstance(answer.get("duration_ms"), int) and answer["duration_ms"] >= 0,
          f"no duration_ms in {answer}")
    check(log_lines(offset, "pinged by the homeserver", txn),
          "the echo did not log our ping's transaction_id")
    status, wrong = request("POST", "/_matrix/client/v1/appservice/not-echo/ping", AS_TOKEN,
                            {"transaction_id": txn + "-wrong"}, expect=None)
    check((status, wrong.get("errcode")) == (403, "M_FORBIDDEN"),
          f"wrong appservice id answered {status} {wrong}")
    status, user = request("POST", f"/_matrix/client/v1/appservice/{quote(AS_ID)}/ping",
                           need("alice")[0], {}, expect=None)
    check((status, user.get("errcode")) == (403, "M_FORBIDDEN"),
          f"a user's token answered {status} {user}")
    info(f"duration_ms={answer['duration_ms']}")


def s6_handler_failure():
    """The echo fails one transaction (ECHO_FAIL_TRANSACTIONS=1); Synapse retries it; the
    event is echoed exactly once."""
    alice, room_id, echo_user = need("alice", "room_id", "echo_user")
    wait_quiet()
    control("echo stop")
    offset = echo_log_size()
    control("echo start fail=1")
    original_id = send_text(alice, room_id, "!echo retried once")
    _, took = echoed_once(alice, room_id, echo_user, ["retried once"])
    # The transaction that carried the event: answered 500 by the hook, then 200 on the retry.
    echoed = log_lines(offset, "echoed", f"original={original_id}")
    check(len(echoed) == 1, f"{len(echoed)} `echoed` log lines for the event")
    hooks = log_lines(offset, "ECHO_FAIL_TRANSACTIONS test hook: failing this event")
    check(len(hooks) == 1, f"the test hook failed {len(hooks)} events, expected 1")
    lines = echo_log(offset)
    at = next(i for i, line in enumerate(lines) if f"original={original_id}" in line)
    after = [TXN_LINE.search(line) for line in lines[at:]]
    ok = next((m for m in after if m), None)
    check(ok and ok.group(2) == "200", "no 200 transaction after the echo")
    txn_id = ok.group(1)
    history = [status for t, status in transactions(offset) if t == txn_id]
    check(history == [500, 200], f"transaction {txn_id} was answered {history}, expected [500, 200]")
    info(f"transaction {txn_id}: 500, then 200 on Synapse's retry; echoed {took:.1f} s after "
         f"the send")


def s7_restart():
    """SIGKILL while Synapse queues events; restart on the same store; every message echoed
    exactly once."""
    alice, room_id, echo_user = need("alice", "room_id", "echo_user")
    send_text(alice, room_id, "!echo before the kill")
    echoed_once(alice, room_id, echo_user, ["before the kill"], settle=0.5)
    wait_quiet()
    synapse_offset = os.path.getsize(SYNAPSE_LOG)
    control("echo kill")
    bodies = [f"while down {i}" for i in range(1, 4)]
    for body in bodies:
        send_text(alice, room_id, "!echo " + body)
    # Synapse tries, fails (connection refused), marks the appservice down and queues the rest.
    poll("Synapse's refused push (its log)", lambda: synapse_log_lines(
        synapse_offset, "/_matrix/app/v1/transactions/", "ConnectionRefusedError"), timeout=10)
    offset = echo_log_size()
    control("echo start")
    found, took = echoed_once(alice, room_id, echo_user, ["before the kill"] + bodies)
    order = [e["content"]["body"] for e in found if e["content"].get("body") in bodies]
    check(order == bodies, f"echoed in the order {order}")
    check(len(log_lines(offset, "echoed")) == len(bodies),
          f"the restarted echo echoed {len(log_lines(offset, 'echoed'))} events")
    retried = synapse_log_lines(synapse_offset, "Retrying transaction", f"AS ID {AS_ID}")
    check(retried, "Synapse did not resend the queued transactions")
    info(f"{len(retried)} queued transactions resent; the backlog echoed {took:.1f} s after "
         f"the restart")


def s8_identity_assertion():
    """Identity assertion outside the namespace: 403 M_FORBIDDEN (whoami), 400 M_EXCLUSIVE
    (register), and the client crate's typed errors for both."""
    user = f"@alice:{SERVER}"
    status, answer = request("GET", "/_matrix/client/v3/account/whoami", AS_TOKEN,
                             query={"user_id": user}, expect=None)
    check((status, answer.get("errcode")) == (403, "M_FORBIDDEN"),
          f"whoami as {user} answered {status} {answer}")
    status, answer = request("POST", "/_matrix/client/v3/register", AS_TOKEN,
                             {"type": "m.login.application_service", "username": "not_echo"},
                             expect=None)
    check((status, answer.get("errcode")) == (400, "M_EXCLUSIVE"),
          f"register not_echo answered {status} {answer}")
    env = dict(os.environ, AS_TOKEN=AS_TOKEN)
    out = subprocess.run([IDENTITY_CHECK, HS, f"@not_echo:{SERVER}"], env=env,
                         capture_output=True, text=True, timeout=60)
    check(out.returncode == 0, f"identity_check exited {out.returncode}: {out.stderr.strip()}")
    expected = ["register: ClientError::Matrix status=400 errcode=M_EXCLUSIVE",
                "whoami: ClientError::Matrix status=403 errcode=M_FORBIDDEN"]
    check(out.stdout.splitlines() == expected, f"identity_check printed {out.stdout!r}")
    check(AS_TOKEN not in out.stdout + out.stderr, "identity_check printed the as_token")


def replica_transactions():
    """(replica, txn_id, status) of every transaction the replicas answered."""
    out = []
    for n, path in enumerate(REPLICA_LOGS):
        for line in echo_log(path=path):
            m = TXN_LINE.search(line)
            if m:
                out.append((n, m.group(1), int(m.group(2))))
    return out


def replica_echoes(original_ids):
    """How many `echoed` log lines the replicas wrote for each original event."""
    lines = [line for path in REPLICA_LOGS for line in echo_log(path=path) if "echoed" in line]
    return {i: sum(1 for line in lines if f"original={i}" in line) for i in original_ids}


def send_and_check_once_in_order(alice, room_id, echo_user, bodies, between=None, timeout=60.0,
                                 reruns_allowed=False):
    """Sends `!echo <body>` for each body (calling `between(i)` after the i-th send), then checks
    every body was echoed exactly once and in order, and each original handled by exactly one
    replica once. With `reruns_allowed`, an original may be handled more than once (a commit
    lost with the database: the retry handles it again, and the homeserver deduplicates the
    echo's send by its transaction ID), but never not at all; returns the re-runs too."""
    ids = []
    for i, body in enumerate(bodies):
        ids.append(send_text(alice, room_id, "!echo " + body))
        if between:
            between(i)
    found, took = echoed_once(alice, room_id, echo_user, bodies, timeout=timeout)
    order = [e["content"]["body"] for e in found if e["content"].get("body") in bodies]
    check(order == bodies, f"echoed in the order {order}")
    counts = replica_echoes(ids)
    if reruns_allowed:
        check(all(c >= 1 for c in counts.values()), f"echoed log lines per original: {counts}")
    else:
        check(all(c == 1 for c in counts.values()), f"echoed log lines per original: {counts}")
    return took, sum(counts.values()) - len(counts)


def s9_replicas():
    """Two replicas on one PostgreSQL database behind HAProxy (round-robin) at the
    registration's url: ten messages echoed exactly once, in order, by both replicas."""
    alice, room_id, echo_user = need("alice", "room_id", "echo_user")
    wait_quiet()
    control("echo stop")
    control("replicas start")
    bodies = [f"replicated {i}" for i in range(1, 11)]
    took, _ = send_and_check_once_in_order(alice, room_id, echo_user, bodies)
    served = {n for n, _, status in replica_transactions() if status == 200}
    check(served == {0, 1}, f"only replicas {sorted(served)} answered transactions")
    STATE.update(replicas=True)
    info(f"echoed in {took:.1f} s; transactions per replica: "
         f"{[sum(1 for n, _, _ in replica_transactions() if n == r) for r in (0, 1)]}")


def s10_replica_sigkill():
    """SIGKILL one replica while Synapse has events queued: every message echoed exactly
    once, in order, by the survivor; the killed replica rejoins."""
    alice, room_id, echo_user, _ = need("alice", "room_id", "echo_user", "replicas")

    def kill_after_first(i):
        if i == 0:
            control("replica kill 0")
    bodies = [f"across a kill {i}" for i in range(1, 7)]
    took, _ = send_and_check_once_in_order(alice, room_id, echo_user, bodies, kill_after_first)
    control("replica start 0")
    info(f"the backlog echoed {took:.1f} s after the first send")


def s11_postgres_restart():
    """PostgreSQL restarted (immediate shutdown) mid-stream: nothing lost, nothing seen twice
    (a transaction whose commit died with the database is handled again on the retry; its
    echo is deduplicated by the homeserver through the send's transaction ID)."""
    alice, room_id, echo_user, _ = need("alice", "room_id", "echo_user", "replicas")

    def restart_after_third(i):
        if i == 2:
            control("postgres restart")
    bodies = [f"across a database restart {i}" for i in range(1, 7)]
    took, reruns = send_and_check_once_in_order(alice, room_id, echo_user, bodies,
                                                restart_after_third, timeout=90.0,
                                                reruns_allowed=True)
    failed = [(n, t) for n, t, status in replica_transactions() if status >= 500]
    check(reruns <= len(failed), f"{reruns} events handled again but only {len(failed)} "
          f"transactions failed")
    info(f"echoed {took:.1f} s after the first send; {len(failed)} transactions answered 5xx "
         f"during the restart and retried; {reruns} events handled again")


def webhook(method, path, body=None):
    """One call to the webhook bridge's own API; returns (status, JSON body)."""
    req = urllib.request.Request(WEBHOOK_URL + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {WEBHOOK_TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def s12_webhook():
    """The webhook bridge: a post appears in the channel's room as the puppet, dated with the
    post's timestamp; a Matrix reply there comes back out of the bridge."""
    check(WEBHOOK_URL and WEBHOOK_TOKEN, "no webhook bridge: INTEROP_WEBHOOK_URL is not set")
    ts = int(time.time() * 1000) - 3_600_000  # an hour ago: clearly the post's, not "now"
    status, answer = webhook("POST", "/webhook/interop", {
        "username": "Dora", "text": "hello from the webhook", "ts": ts, "id": "post-1"})
    check(status == 200, f"the webhook post answered {status} {answer}")
    event_id = answer["event_id"]
    carol = register_user("webhook_carol")
    alias = f"#_webhook_interop:{SERVER}"
    _, joined = request("POST", f"/_matrix/client/v3/join/{quote(alias)}", carol, {})
    room_id = joined["room_id"]
    event = get_event(carol, room_id, event_id)
    puppet = f"@_webhook__dora:{SERVER}"
    check(event["sender"] == puppet, f"sent by {event['sender']}, expected {puppet}")
    check(event["origin_server_ts"] == ts, f"dated {event['origin_server_ts']}, expected {ts}")
    check(event["content"].get("body") == "hello from the webhook", f"content {event['content']}")
    _, profile = request("GET", f"/_matrix/client/v3/profile/{quote(puppet)}/displayname", carol)
    check(profile.get("displayname") == "Dora", f"the puppet's display name is {profile}")
    # The same post again (the sender retried): the same event, not a second message.
    status, again = webhook("POST", "/webhook/interop", {
        "username": "Dora", "text": "hello from the webhook", "ts": ts, "id": "post-1"})
    check(status == 200 and again["event_id"] == event_id, f"a retried post gave {again}")
    reply_id = send_text(carol, room_id, "hello Dora")

    def collected():
        status, out = webhook("GET", "/webhook/interop/messages")
        return status == 200 and [m for m in out if m["event_id"] == reply_id]
    found = poll("the reply collected by the bridge", collected, timeout=30)
    check(found[0]["sender"] == f"@webhook_carol:{SERVER}", f"collected {found}")
    check(found[0]["text"] == "hello Dora", f"collected {found}")
    bodies = [e["content"].get("body") for e in messages(carol, room_id)]
    check(bodies.count("hello from the webhook") == 1, f"room messages {bodies}")
    info(f"post {event_id} as {puppet}; reply {reply_id} collected back")


SCENARIOS = [
    ("1-echo", s1_echo),
    ("2-ephemeral", s2_ephemeral),
    ("3-user-query", s3_user_query),
    ("4-alias-query", s4_alias_query),
    ("5-ping", s5_ping),
    ("6-handler-failure-retried", s6_handler_failure),
    ("7-restart-after-sigkill", s7_restart),
    ("8-identity-assertion-refused", s8_identity_assertion),
    ("9-two-replicas-on-postgres", s9_replicas),
    ("10-replica-sigkill", s10_replica_sigkill),
    ("11-postgres-restart", s11_postgres_restart),
    ("12-webhook-bridge", s12_webhook),
]


def main():
    passed = failed = 0
    for name, scenario in SCENARIOS:
        started = time.monotonic()
        try:
            scenario()
        except Failure as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - any error is this scenario's failure
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
        else:
            passed += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
