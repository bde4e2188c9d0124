/*
 * Interop: libstrophe (C, Debian libstrophe-dev), an XMPP client library we
 * did not write, against Yak. Compiled by test/interop-libstrophe.test.ts:
 *
 *   gcc -o client libstrophe_client.c $(pkg-config --cflags --libs libstrophe)
 *   client PORT HOST USER PASSWORD PEER
 *
 * Connects to 127.0.0.1:PORT with streams to HOST. PEER (a bare JID) is a
 * user our own test client keeps online; it answers the subscription and
 * the chat message, and leaves USER an offline message when told to.
 *
 *  1. In-band registration. libstrophe has no registration API of its own,
 *     but it has a raw mode for exactly such pre-login exchanges:
 *     xmpp_connect_raw() opens the socket, xmpp_conn_open_stream_default()
 *     sends the stream header, and ordinary stanza handlers then see the
 *     stream features and the iq replies. The program reads the form
 *     (jabber:iq:register get), fills it in, registers USER, then sends
 *     the same registration again and reports the 409 it gets.
 *  2. A login with a wrong password. XMPP_CONN_FLAG_LEGACY_AUTH lets
 *     libstrophe log in with jabber:iq:auth: Yak offers iq-auth and no SASL
 *     mechanism (jabberd 1.4 offered no features at all), and without the
 *     flag libstrophe gives up ("Cannot authenticate with known methods").
 *     No other setting is needed: Yak offers no STARTTLS, so libstrophe
 *     tries none. Its legacy login sends the password in <password>
 *     (plain, never a digest); it ends the stream when the server refuses,
 *     without ever reporting XMPP_CONN_CONNECT.
 *  3. Prints "WAITING offline" and reads one line from stdin: meanwhile PEER
 *     sends USER a chat message, which the server stores offline.
 *  4. The session: legacy login, the roster (jabber:iq:roster get), initial
 *     presence with a status, which brings the stored message with its
 *     jabber:x:delay stamp; a roster set adding PEER (name and group) and a
 *     subscription request; PEER's request is accepted back, until the
 *     roster pushes say 'both' and PEER's presence has arrived; a chat
 *     message each way; a presence change (dnd, with a status) that PEER
 *     sees; the own vCard set (vcard-temp), PEER's vCard read; then a clean
 *     logout (xmpp_disconnect() sends </stream:stream>).
 *
 * One line per step on stdout ("REGISTERED alice", "AUTH legacy ok", ...),
 * "OK" at the end. Any failure prints "FAILED: ..." and exits 1. Set
 * YAK_STROPHE_DEBUG=1 for libstrophe's own protocol log on stderr.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <strophe.h>

#define NS_REGISTER "jabber:iq:register"
#define NS_ROSTER "jabber:iq:roster"
#define NS_DELAY "jabber:x:delay"
#define NS_VCARD "vcard-temp"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_FEATURE_REGISTER "http://jabber.org/features/iq-register"

#define RESOURCE "strophe"
/* Whole run; the test kills the program a little later still. */
#define TOTAL_SECONDS 25

static xmpp_ctx_t *ctx;
static const char *host, *user, *password, *peer;
static unsigned short port;
static time_t deadline;
/* The last error libstrophe logged, for the reports. */
static char last_error[512];

/* ---- reporting ---- */

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void fail(const char *fmt, ...)
{
    va_list ap;
    printf("FAILED: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (last_error[0])
        printf(" (libstrophe: %s)", last_error);
    putchar('\n');
    fflush(stdout);
    exit(1);
}

/* libstrophe's logger: errors kept for the reports; everything on stderr when debugging. */
static void log_handler(void *data, xmpp_log_level_t level, const char *area, const char *msg)
{
    if (level >= XMPP_LEVEL_ERROR)
        snprintf(last_error, sizeof last_error, "%s: %s", area, msg);
    if (getenv("YAK_STROPHE_DEBUG"))
        fprintf(stderr, "[%s] %s\n", area, msg);
}

static xmpp_log_t logger = {log_handler, NULL};

/* ---- stanza helpers (libstrophe's stanza API) ---- */

/* Adds <name>text</name> (text may be NULL) to parent; returns the new child. */
static xmpp_stanza_t *add_child(xmpp_stanza_t *parent, const char *name, const char *text)
{
    xmpp_stanza_t *child = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(child, name);
    if (text) {
        xmpp_stanza_t *t = xmpp_stanza_new(ctx);
        xmpp_stanza_set_text(t, text);
        xmpp_stanza_add_child(child, t);
        xmpp_stanza_release(t);
    }
    xmpp_stanza_add_child(parent, child);
    xmpp_stanza_release(child); /* parent holds it now */
    return child;
}

/* An <iq> with one <query xmlns=ns/> (or another element) child; *payload gets that child. */
static xmpp_stanza_t *new_iq(const char *type, const char *id, const char *name, const char *ns, xmpp_stanza_t **payload)
{
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, type, id);
    xmpp_stanza_t *q = add_child(iq, name, NULL);
    xmpp_stanza_set_ns(q, ns);
    if (payload)
        *payload = q;
    return iq;
}

/* The text of parent's child `name` copied into buf ("" when there is none). */
static const char *child_text(xmpp_stanza_t *parent, const char *name, char *buf, size_t len)
{
    xmpp_stanza_t *c = parent ? xmpp_stanza_get_child_by_name(parent, name) : NULL;
    char *t = c ? xmpp_stanza_get_text(c) : NULL;
    snprintf(buf, len, "%s", t ? t : "");
    if (t)
        xmpp_free(ctx, t);
    return buf;
}

/* "code text" of an <error/> child, 1.4 style (<error code='409'>Text</error>). */
static void error_of(xmpp_stanza_t *stanza, char *buf, size_t len)
{
    xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(stanza, "error");
    const char *code = e ? xmpp_stanza_get_attribute(e, "code") : NULL;
    char *text = e ? xmpp_stanza_get_text(e) : NULL;
    snprintf(buf, len, "%s %s", code ? code : "-", text ? text : "");
    if (text)
        xmpp_free(ctx, text);
}

static int bare_is(const char *jid, const char *bare)
{
    size_t n = strlen(bare);
    return jid && strncmp(jid, bare, n) == 0 && (jid[n] == '\0' || jid[n] == '/');
}

/* Runs libstrophe's event loop until *flag is set; fails at the deadline. */
static void run_until(const int *flag, const char *what)
{
    while (!*flag) {
        if (time(NULL) > deadline)
            fail("timed out waiting for %s", what);
        xmpp_run_once(ctx, 50);
    }
}

/* ---- 1. in-band registration, over a raw connection ---- */

static int reg_done;
/* The form the server sent, kept for the second (refused) registration. */
static xmpp_stanza_t *reg_form;

static void send_registration(xmpp_conn_t *conn, const char *id);

static int on_register_result(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    char err[256];
    const char *type = xmpp_stanza_get_type(stanza);
    int second = data != NULL;
    if (!second) {
        if (!type || strcmp(type, "result") != 0) {
            error_of(stanza, err, sizeof err);
            fail("registration refused: %s", err);
        }
        say("REGISTERED %s", user);
        send_registration(conn, "reg-2");
        return 0;
    }
    if (!type || strcmp(type, "error") != 0)
        fail("a second registration of the same name succeeded");
    error_of(stanza, err, sizeof err);
    say("CONFLICT %s", err);
    xmpp_disconnect(conn);
    return 0;
}

/* A register set with the form's fields filled in: username, password, name, email. */
static void send_registration(xmpp_conn_t *conn, const char *id)
{
    xmpp_stanza_t *q;
    xmpp_stanza_t *iq = new_iq("set", id, "query", NS_REGISTER, &q);
    for (xmpp_stanza_t *f = xmpp_stanza_get_children(reg_form); f; f = xmpp_stanza_get_next(f)) {
        const char *name = xmpp_stanza_is_tag(f) ? xmpp_stanza_get_name(f) : NULL;
        if (!name)
            continue;
        if (strcmp(name, "username") == 0)
            add_child(q, name, user);
        else if (strcmp(name, "password") == 0)
            add_child(q, name, password);
        else if (strcmp(name, "name") == 0)
            add_child(q, name, "Alice Strophe");
        else if (strcmp(name, "email") == 0)
            add_child(q, name, "alice@example.org");
    }
    /* The handler's userdata tells the first registration from the second. */
    xmpp_id_handler_add(conn, on_register_result, id, strcmp(id, "reg-1") == 0 ? NULL : (void *)id);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
}

static int on_register_form(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    char fields[256] = "";
    const char *type = xmpp_stanza_get_type(stanza);
    xmpp_stanza_t *form = xmpp_stanza_get_child_by_name_and_ns(stanza, "query", NS_REGISTER);
    if (!form || !type || strcmp(type, "result") != 0)
        fail("no registration form");
    for (xmpp_stanza_t *f = xmpp_stanza_get_children(form); f; f = xmpp_stanza_get_next(f)) {
        const char *name = xmpp_stanza_is_tag(f) ? xmpp_stanza_get_name(f) : NULL;
        if (name && strcmp(name, "instructions") != 0) {
            if (fields[0])
                strncat(fields, ",", sizeof fields - strlen(fields) - 1);
            strncat(fields, name, sizeof fields - strlen(fields) - 1);
        }
    }
    say("REGISTER-FORM %s", fields);
    reg_form = xmpp_stanza_copy(form);
    send_registration(conn, "reg-1");
    return 0;
}

static int on_register_features(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    if (!xmpp_stanza_get_child_by_ns(stanza, NS_FEATURE_REGISTER))
        fail("the stream features do not offer in-band registration");
    xmpp_stanza_t *iq = new_iq("get", "reg-form", "query", NS_REGISTER, NULL);
    xmpp_id_handler_add(conn, on_register_form, "reg-form", NULL);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
    return 0;
}

static void on_register_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t *se, void *data)
{
    if (event == XMPP_CONN_RAW_CONNECT) {
        /* In raw mode the features reach our handlers like any stanza. */
        xmpp_handler_add(conn, on_register_features, NS_STREAMS, "features", NULL, NULL);
        if (xmpp_conn_open_stream_default(conn) != XMPP_EOK)
            fail("could not open the stream");
    } else if (event == XMPP_CONN_DISCONNECT || event == XMPP_CONN_FAIL) {
        reg_done = 1;
    }
}

static void registration(void)
{
    char jid[512];
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    snprintf(jid, sizeof jid, "%s@%s", user, host); /* the stream goes to its domain */
    xmpp_conn_set_jid(conn, jid);
    if (xmpp_connect_raw(conn, "127.0.0.1", port, on_register_conn, NULL) != XMPP_EOK)
        fail("could not connect for the registration");
    run_until(&reg_done, "the registration");
    xmpp_conn_release(conn);
    if (!reg_form)
        fail("the registration connection ended before the form came");
    xmpp_stanza_release(reg_form);
}

/* A connection that logs in with jabber:iq:auth (see the header comment). */
static xmpp_conn_t *legacy_conn(const char *pass)
{
    char jid[512];
    xmpp_conn_t *conn = xmpp_conn_new(ctx);
    snprintf(jid, sizeof jid, "%s@%s/%s", user, host, RESOURCE);
    xmpp_conn_set_jid(conn, jid);
    xmpp_conn_set_pass(conn, pass);
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_LEGACY_AUTH);
    return conn;
}

/* ---- 2. a wrong password ---- */

static int wrong_done;

static void on_wrong_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t *se, void *data)
{
    if (event == XMPP_CONN_CONNECT)
        fail("logged in with a wrong password");
    if (event == XMPP_CONN_DISCONNECT || event == XMPP_CONN_FAIL)
        wrong_done = 1;
}

static void wrong_password(void)
{
    char wrong[512];
    snprintf(wrong, sizeof wrong, "%s-wrong", password);
    xmpp_conn_t *conn = legacy_conn(wrong);
    last_error[0] = '\0';
    if (xmpp_connect_client(conn, "127.0.0.1", port, on_wrong_conn, NULL) != XMPP_EOK)
        fail("could not connect");
    run_until(&wrong_done, "the refusal of a wrong password");
    xmpp_conn_release(conn);
    say("AUTH legacy wrong-password refused: %s", last_error[0] ? last_error : "(nothing logged)");
    last_error[0] = '\0';
}

/* ---- 3. a pause for the offline message ---- */

static void wait_for_go(const char *what)
{
    char line[64];
    struct pollfd p = {STDIN_FILENO, POLLIN, 0};
    say("WAITING %s", what);
    if (poll(&p, 1, 15000) != 1 || !fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
        fail("no go-line for %s on stdin", what);
}

/* ---- 4. the session ---- */

static int sess_ended, logging_out;
static int offline_seen, subscription_both, peer_online, chat_sent, reply_seen, presence_changed;
static int vcard_read;

static void send_presence(xmpp_conn_t *conn, const char *type, const char *to, const char *show, const char *status)
{
    xmpp_stanza_t *p = xmpp_presence_new(ctx);
    if (type)
        xmpp_stanza_set_type(p, type);
    if (to)
        xmpp_stanza_set_to(p, to);
    if (show)
        add_child(p, "show", show);
    if (status)
        add_child(p, "status", status);
    xmpp_send(conn, p);
    xmpp_stanza_release(p);
}

static int on_vcard_get(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data);

/* Moves the session on once what the next step needs has happened. */
static void advance(xmpp_conn_t *conn)
{
    if (subscription_both && peer_online && !chat_sent) {
        xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", peer, "chat-1");
        xmpp_message_set_body(m, "Hello from libstrophe");
        xmpp_send(conn, m);
        xmpp_stanza_release(m);
        chat_sent = 1;
        say("SENT chat");
    }
    if (reply_seen && !presence_changed) {
        presence_changed = 1;
        send_presence(conn, NULL, NULL, "dnd", "Busy in C");
        say("PRESENCE-SENT dnd");
        /* Own vCard set, then PEER's read (on_vcard_get). */
        xmpp_stanza_t *card;
        xmpp_stanza_t *iq = new_iq("set", "vcard-set", "vCard", NS_VCARD, &card);
        add_child(card, "FN", "Alice Strophe");
        add_child(card, "NICKNAME", "strophie");
        xmpp_id_handler_add(conn, on_vcard_get, "vcard-set", NULL);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);
    }
    if (vcard_read && offline_seen && !logging_out) {
        logging_out = 1;
        say("LOGOUT");
        xmpp_disconnect(conn);
    }
}

static int on_vcard_get(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    char fn[128], nick[128], err[256];
    const char *type = xmpp_stanza_get_type(stanza);
    const char *id = xmpp_stanza_get_id(stanza);
    if (!type || strcmp(type, "result") != 0) {
        error_of(stanza, err, sizeof err);
        fail("%s answered %s", id, err);
    }
    if (strcmp(id, "vcard-set") == 0) {
        say("VCARD-SET ok");
        xmpp_stanza_t *iq = new_iq("get", "vcard-get", "vCard", NS_VCARD, NULL);
        xmpp_stanza_set_to(iq, peer);
        xmpp_id_handler_add(conn, on_vcard_get, "vcard-get", NULL);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);
        return 0;
    }
    xmpp_stanza_t *card = xmpp_stanza_get_child_by_name_and_ns(stanza, "vCard", NS_VCARD);
    say("VCARD from=%s FN=%s NICKNAME=%s", xmpp_stanza_get_from(stanza), child_text(card, "FN", fn, sizeof fn),
        child_text(card, "NICKNAME", nick, sizeof nick));
    vcard_read = 1;
    advance(conn);
    return 0;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    const char *from = xmpp_stanza_get_from(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    char *body = xmpp_message_get_body(stanza);
    xmpp_stanza_t *delay = xmpp_stanza_get_child_by_name_and_ns(stanza, "x", NS_DELAY);
    if (delay) {
        char *text = xmpp_stanza_get_text(delay);
        const char *dfrom = xmpp_stanza_get_attribute(delay, "from");
        const char *stamp = xmpp_stanza_get_attribute(delay, "stamp");
        say("OFFLINE from=%s type=%s delay-from=%s stamp=%s text=%s body=%s", from, type ? type : "-", dfrom ? dfrom : "-",
            stamp ? stamp : "-", text ? text : "", body ? body : "");
        if (text)
            xmpp_free(ctx, text);
        offline_seen = 1;
    } else if (bare_is(from, peer) && type && strcmp(type, "chat") == 0) {
        say("RECEIVED from=%s type=%s body=%s", from, type, body ? body : "");
        reply_seen = 1;
    } else {
        fail("unexpected message from %s", from ? from : "(none)");
    }
    if (body)
        xmpp_free(ctx, body);
    advance(conn);
    return 1;
}

static int on_presence(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    char status[256];
    const char *from = xmpp_stanza_get_from(stanza);
    const char *type = xmpp_stanza_get_type(stanza);
    if (!bare_is(from, peer))
        return 1;
    if (type && strcmp(type, "subscribe") == 0) {
        send_presence(conn, "subscribed", peer, NULL, NULL);
        say("ACCEPTED %s", from);
    } else if (type && strcmp(type, "subscribed") == 0) {
        say("APPROVED-BY %s", from);
    } else if (!type && !peer_online) {
        peer_online = 1;
        say("PRESENCE %s available status=%s", from, child_text(stanza, "status", status, sizeof status));
    }
    advance(conn);
    return 1;
}

/* Roster pushes: the server's <iq type='set'><query xmlns='jabber:iq:roster'/>. */
static int on_roster_push(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(stanza, "query", NS_ROSTER);
    for (xmpp_stanza_t *i = q ? xmpp_stanza_get_children(q) : NULL; i; i = xmpp_stanza_get_next(i)) {
        const char *jid = xmpp_stanza_is_tag(i) ? xmpp_stanza_get_attribute(i, "jid") : NULL;
        const char *sub = jid ? xmpp_stanza_get_attribute(i, "subscription") : NULL;
        if (jid && strcmp(jid, peer) == 0 && sub && strcmp(sub, "both") == 0 && !subscription_both) {
            subscription_both = 1;
            say("SUBSCRIPTION %s both", jid);
        }
    }
    /* Acknowledged as RFC 6120 8.1.3 asks: an empty result with the push's
     * id, and no `to` (the push came from our own account). */
    const char *id = xmpp_stanza_get_id(stanza);
    if (!id)
        fail("a roster push without an id");
    xmpp_stanza_t *ok = xmpp_iq_new(ctx, "result", id);
    xmpp_send(conn, ok);
    xmpp_stanza_release(ok);
    advance(conn);
    return 1;
}

static int on_roster_add(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    char err[256];
    const char *type = xmpp_stanza_get_type(stanza);
    if (!type || strcmp(type, "result") != 0) {
        error_of(stanza, err, sizeof err);
        fail("roster set answered %s", err);
    }
    say("ROSTER-SET ok");
    return 0;
}

static int on_roster(xmpp_conn_t *conn, xmpp_stanza_t *stanza, void *data)
{
    int n = 0;
    const char *type = xmpp_stanza_get_type(stanza);
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(stanza, "query", NS_ROSTER);
    if (!q || !type || strcmp(type, "result") != 0)
        fail("no roster");
    for (xmpp_stanza_t *i = xmpp_stanza_get_children(q); i; i = xmpp_stanza_get_next(i))
        if (xmpp_stanza_is_tag(i))
            n++;
    say("ROSTER %d items", n);

    /* Initial presence: the server then delivers the stored message. */
    send_presence(conn, NULL, NULL, NULL, "Strophe here");

    /* PEER into the roster with a name and a group, then the request. */
    xmpp_stanza_t *query;
    xmpp_stanza_t *iq = new_iq("set", "roster-add", "query", NS_ROSTER, &query);
    xmpp_stanza_t *item = add_child(query, "item", NULL);
    xmpp_stanza_set_attribute(item, "jid", peer);
    xmpp_stanza_set_attribute(item, "name", "Yak Peer");
    add_child(item, "group", "Friends");
    xmpp_id_handler_add(conn, on_roster_add, "roster-add", NULL);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);
    send_presence(conn, "subscribe", peer, NULL, NULL);
    return 0;
}

static void on_session_conn(xmpp_conn_t *conn, xmpp_conn_event_t event, int error, xmpp_stream_error_t *se, void *data)
{
    if (event == XMPP_CONN_CONNECT) {
        say("AUTH legacy ok");
        xmpp_handler_add(conn, on_message, NULL, "message", NULL, NULL);
        xmpp_handler_add(conn, on_presence, NULL, "presence", NULL, NULL);
        xmpp_handler_add(conn, on_roster_push, NS_ROSTER, "iq", "set", NULL);
        xmpp_stanza_t *iq = new_iq("get", "roster-get", "query", NS_ROSTER, NULL);
        xmpp_id_handler_add(conn, on_roster, "roster-get", NULL);
        xmpp_send(conn, iq);
        xmpp_stanza_release(iq);
        return;
    }
    if (!logging_out)
        fail("the session ended early (event %d, error %d, stream error %s)", (int)event, error,
             se && se->text ? se->text : "-");
    say("DISCONNECTED");
    sess_ended = 1;
}

static void session(void)
{
    xmpp_conn_t *conn = legacy_conn(password);
    if (xmpp_connect_client(conn, "127.0.0.1", port, on_session_conn, NULL) != XMPP_EOK)
        fail("could not connect");
    run_until(&sess_ended, "the session's steps");
    xmpp_conn_release(conn);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s PORT HOST USER PASSWORD PEER\n", argv[0]);
        return 2;
    }
    port = (unsigned short)atoi(argv[1]);
    host = argv[2];
    user = argv[3];
    password = argv[4];
    peer = argv[5];
    deadline = time(NULL) + TOTAL_SECONDS;

    xmpp_initialize();
    ctx = xmpp_ctx_new(NULL, &logger);
    registration();
    wrong_password();
    wait_for_go("offline");
    session();
    xmpp_ctx_free(ctx);
    xmpp_shutdown();
    say("OK");
    return 0;
}
