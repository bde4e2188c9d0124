/*
 * Interop: libpurple (C, Debian libpurple-dev), the protocol library of
 * Pidgin and Finch, which we did not write, with its XMPP plugin
 * (prpl-jabber), against Yak. Compiled by test/interop-libpurple.test.ts:
 *
 *   gcc -o client libpurple_client.c $(pkg-config --cflags --libs purple glib-2.0)
 *   client PORT HOST USER PASSWORD PEER USERDIR
 *
 * A headless libpurple user interface: no display, no terminal. It keeps
 * libpurple's files (accounts.xml, blist.xml, prefs.xml, ...) in USERDIR,
 * a folder of the test's own, and answers libpurple's questions itself:
 * the registration form is filled in and sent, a contact's subscription
 * request is accepted. PEER (a bare JID) is a user our own test client
 * keeps online.
 *
 * The account is set up as a user would in Pidgin's account editor:
 * connect_server 127.0.0.1 and PORT (no DNS SRV lookup for HOST);
 * connection_security "opportunistic_tls", "Use encryption if available"
 * (with the editor's default, "Require encryption", libpurple gives up:
 * "You require encryption, but it is not available on this server", as
 * Yak offers no STARTTLS on its plain port); and the password remembered
 * (libpurple drops one it may not keep once a registration is done, and
 * would ask for it at login). auth_plain_in_clear stays off, as by
 * default: Yak offers the digest, so libpurple never sends the password.
 * Before libpurple starts, prefs.xml turns off UPnP and automatic IP
 * detection, which would otherwise send discovery packets to the LAN, and
 * the D-Bus addresses point at sockets that do not exist, so that it
 * neither joins a desktop session bus (nor starts one) nor watches
 * NetworkManager; GStreamer's plugin registry is kept in USERDIR too.
 *
 *  1. In-band registration with purple_account_register(): libpurple asks
 *     for the form (jabber:iq:register), our request UI fills in name and
 *     email, libpurple sends it. A second registration of the name is
 *     refused (409), which libpurple reports through the notify UI.
 *  2. Prints "WAITING offline" and reads one line from stdin: meanwhile PEER
 *     sends USER a chat message, which the server stores offline.
 *  3. The session: the account is enabled with a saved status carrying a
 *     message, libpurple logs in (Yak's features list iq-auth and no SASL
 *     mechanism, so it takes its old jabber:iq:auth path, with a digest),
 *     reads the roster and sends its presence; the stored message comes
 *     with its jabber:x:delay stamp, which libpurple turns into the
 *     message's time. Then PEER is added as a buddy (a roster set and a
 *     subscription request), PEER's request is authorized, PEER comes
 *     online; a chat message each way; the status set to away with a
 *     message, which PEER sees; PEER's own status change as libpurple
 *     shows it; and the account disconnected.
 *
 * One line per step on stdout ("REGISTERED alice", "SIGNED-ON", ...), "OK"
 * at the end. Any failure prints "FAILED: ..." and exits 1. Set
 * YAK_PURPLE_DEBUG=1 for libpurple's own log (the XML included) on stderr.
 * libpurple 2.14 itself prints a few GLib CRITICAL lines on stderr when it
 * closes a registration's connection and at the logout (its own checks on
 * handles it passes itself); they do not come from this program.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <purple.h>

#define UI_ID "yak-interop"
#define RESOURCE "purple"
/* Whole run; the test kills the program a little later still. */
#define TOTAL_SECONDS 25

static GMainLoop *loop;
static PurpleAccount *account;
static const char *host, *user, *password, *peer, *userdir;
static int port;
/* What libpurple's last notification said, for the registration reports. */
static char last_notice[512];
/* The code of the last registration error as it came on the wire. */
static char register_error_code[16] = "-";

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
    putchar('\n');
    fflush(stdout);
    exit(1);
}

/* A time as the server stamps it (jabber:x:delay, UTC). */
static const char *utc_stamp(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y%m%dT%H:%M:%S", &tm);
    return buf;
}

/* ---- the glib main loop as libpurple's event loop ---- */

struct watch {
    PurpleInputFunction func;
    gpointer data;
};

static gboolean on_io(GIOChannel *channel, GIOCondition cond, gpointer data)
{
    struct watch *w = data;
    PurpleInputCondition what = 0;
    if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        what |= PURPLE_INPUT_READ;
    if (cond & (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL))
        what |= PURPLE_INPUT_WRITE;
    w->func(w->data, g_io_channel_unix_get_fd(channel), what);
    return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition cond, PurpleInputFunction func, gpointer data)
{
    struct watch *w = g_new0(struct watch, 1);
    GIOCondition want = 0;
    w->func = func;
    w->data = data;
    if (cond & PURPLE_INPUT_READ)
        want |= G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (cond & PURPLE_INPUT_WRITE)
        want |= G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL;
    GIOChannel *channel = g_io_channel_unix_new(fd);
    guint id = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, want, on_io, w, g_free);
    g_io_channel_unref(channel);
    return id;
}

static PurpleEventLoopUiOps eventloop_ops = {
    .timeout_add = g_timeout_add,
    .timeout_remove = g_source_remove,
    .input_add = input_add,
    .input_remove = g_source_remove,
    .timeout_add_seconds = g_timeout_add_seconds,
};

/* ---- libpurple's questions and notices, answered headless ---- */

static void debug_print(PurpleDebugLevel level, const char *category, const char *msg)
{
    fprintf(stderr, "[%s] %s", category ? category : "-", msg);
}

static gboolean debug_enabled(PurpleDebugLevel level, const char *category)
{
    return getenv("YAK_PURPLE_DEBUG") != NULL;
}

static PurpleDebugUiOps debug_ops = {.print = debug_print, .is_enabled = debug_enabled};

/* The registration form: names the fields, fills in name and email, sends it. */
static void *request_fields(const char *title, const char *primary, const char *secondary, PurpleRequestFields *fields,
                            const char *ok_text, GCallback ok_cb, const char *cancel_text, GCallback cancel_cb,
                            PurpleAccount *acct, const char *who, PurpleConversation *conv, void *data)
{
    GString *names = g_string_new(NULL);
    for (GList *g = purple_request_fields_get_groups(fields); g; g = g->next) {
        for (GList *f = purple_request_field_group_get_fields(g->data); f; f = f->next) {
            PurpleRequestField *field = f->data;
            const char *id = purple_request_field_get_id(field);
            if (purple_request_field_get_type(field) != PURPLE_REQUEST_FIELD_STRING)
                continue;
            g_string_append_printf(names, "%s%s", names->len ? "," : "", id);
            if (strcmp(id, "name") == 0)
                purple_request_field_string_set_value(field, "Alice Purple");
            else if (strcmp(id, "email") == 0)
                purple_request_field_string_set_value(field, "alice@example.org");
        }
    }
    say("REGISTER-FORM %s", names->str);
    g_string_free(names, TRUE);
    ((PurpleRequestFieldsCb)ok_cb)(data, fields);
    return NULL;
}

static PurpleRequestUiOps request_ops = {.request_fields = request_fields};

static void *notify_message(PurpleNotifyMsgType type, const char *title, const char *primary, const char *secondary)
{
    snprintf(last_notice, sizeof last_notice, "%s: %s", primary ? primary : "", secondary ? secondary : "");
    return NULL;
}

static PurpleNotifyUiOps notify_ops = {.notify_message = notify_message};

/* A contact asks to see our presence: authorized, as a user clicking "Authorize". */
static void *request_authorize(PurpleAccount *acct, const char *remote, const char *id, const char *alias, const char *message,
                               gboolean on_list, PurpleAccountRequestAuthorizationCb authorize_cb,
                               PurpleAccountRequestAuthorizationCb deny_cb, void *data)
{
    say("AUTHORIZED %s", remote);
    authorize_cb(data);
    return NULL;
}

static PurpleAccountUiOps account_ops = {.request_authorize = request_authorize};

static int logging_in, session_started, offline_seen, buddy_online, chat_sent, reply_seen, away_sent, peer_status_seen, logging_out;
static void advance(void);

/* Every IM, ours and theirs, with the time libpurple gives it. */
static void write_im(PurpleConversation *conv, const char *who, const char *message, PurpleMessageFlags flags, time_t mtime)
{
    char stamp[32];
    if (flags & PURPLE_MESSAGE_SEND) {
        say("SENT to=%s body=%s", purple_conversation_get_name(conv), message);
        return;
    }
    if (!(flags & PURPLE_MESSAGE_RECV))
        return; /* system notes such as "is now known as" */
    say("RECEIVED from=%s time=%s body=%s", who, utc_stamp(mtime, stamp, sizeof stamp), message);
    if (strcmp(message, "Left while you were out") == 0)
        offline_seen = 1;
    else if (strcmp(message, "Hello from Yak") == 0)
        reply_seen = 1;
    advance();
}

static PurpleConversationUiOps conversation_ops = {.write_im = write_im};

static void ui_init(void)
{
    purple_request_set_ui_ops(&request_ops);
    purple_notify_set_ui_ops(&notify_ops);
    purple_accounts_set_ui_ops(&account_ops);
    purple_conversations_set_ui_ops(&conversation_ops);
}

static PurpleCoreUiOps core_ops = {.ui_init = ui_init};

/*
 * The XMPP plugin's signal for each stanza as it arrives: notes the code
 * of a registration error, which libpurple's own message leaves out when
 * the error has no RFC 3920 condition element (see the test).
 */
static void receiving_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer data)
{
    xmlnode *iq = *packet;
    if (!iq || strcmp(iq->name, "iq") != 0 || g_strcmp0(xmlnode_get_attrib(iq, "type"), "error") != 0 ||
        !xmlnode_get_child_with_namespace(iq, "query", "jabber:iq:register"))
        return;
    xmlnode *error = xmlnode_get_child(iq, "error");
    const char *code = error ? xmlnode_get_attrib(error, "code") : NULL;
    snprintf(register_error_code, sizeof register_error_code, "%s", code ? code : "-");
}

/* ---- the steps ---- */

static void wait_for_offline(void);
static void log_in(void);

enum after_registration { REGISTER_AGAIN = 1, WAIT_FOR_OFFLINE };

/* The next step, once the account has no connection left (libpurple closes a registration's itself). */
static gboolean when_disconnected(gpointer next)
{
    if (purple_account_get_connection(account) != NULL)
        return TRUE;
    if (GPOINTER_TO_INT(next) == REGISTER_AGAIN)
        purple_account_register(account);
    else
        wait_for_offline();
    return FALSE;
}

static int registrations;

static void registered(PurpleAccount *acct, gboolean ok, void *data)
{
    registrations++;
    if (registrations == 1) {
        if (!ok)
            fail("registration refused: %s", last_notice);
        say("REGISTERED %s", user);
        last_notice[0] = '\0';
        /* The same name again, on a new connection once this one is closed. */
        g_timeout_add(20, when_disconnected, GINT_TO_POINTER(REGISTER_AGAIN));
        return;
    }
    if (ok)
        fail("a second registration of the same name succeeded");
    say("REGISTRATION-REFUSED code=%s notice=%s", register_error_code, last_notice);
    g_timeout_add(20, when_disconnected, GINT_TO_POINTER(WAIT_FOR_OFFLINE));
}

static gboolean on_stdin(GIOChannel *channel, GIOCondition cond, gpointer data)
{
    char *line = NULL;
    if (g_io_channel_read_line(channel, &line, NULL, NULL, NULL) != G_IO_STATUS_NORMAL || strncmp(line, "go", 2) != 0)
        fail("no go-line on stdin");
    g_free(line);
    log_in();
    return FALSE;
}

static void wait_for_offline(void)
{
    GIOChannel *in = g_io_channel_unix_new(STDIN_FILENO);
    say("WAITING offline");
    g_io_add_watch(in, G_IO_IN | G_IO_HUP, on_stdin, NULL);
    g_io_channel_unref(in);
}

static void log_in(void)
{
    /* As a user would: the account enabled, then a saved status with a message activated. */
    logging_in = 1;
    purple_account_set_enabled(account, UI_ID, TRUE);
    PurpleSavedStatus *status = purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE);
    purple_savedstatus_set_message(status, "Purple here");
    purple_savedstatus_activate(status);
}

static void signed_on(PurpleConnection *gc, gpointer data)
{
    /* libpurple says "signed on" for a registration's connection too, once the form has come. */
    if (!logging_in)
        return;
    GSList *buddies = purple_find_buddies(account, NULL);
    session_started = 1;
    say("SIGNED-ON");
    say("ROSTER %u buddies", g_slist_length(buddies));
    g_slist_free(buddies);
    /* PEER into the buddy list and the roster (group Friends); libpurple asks for a subscription. */
    PurpleGroup *group = purple_group_new("Friends");
    PurpleBuddy *buddy = purple_buddy_new(account, peer, "Yak Peer");
    purple_blist_add_buddy(buddy, NULL, group, NULL);
    purple_account_add_buddy(account, buddy);
    say("BUDDY-ADDED %s", peer);
}

static void status_line(const char *what, PurpleBuddy *buddy, PurpleStatus *status)
{
    const char *message = purple_status_get_attr_string(status, "message");
    say("%s %s status=%s message=%s", what, purple_buddy_get_name(buddy), purple_status_get_id(status), message ? message : "");
}

static void buddy_signed_on(PurpleBuddy *buddy, gpointer data)
{
    if (strcmp(purple_buddy_get_name(buddy), peer) != 0)
        return;
    status_line("BUDDY-ONLINE", buddy, purple_presence_get_active_status(purple_buddy_get_presence(buddy)));
    buddy_online = 1;
    advance();
}

static void buddy_status_changed(PurpleBuddy *buddy, PurpleStatus *old, PurpleStatus *now, gpointer data)
{
    if (strcmp(purple_buddy_get_name(buddy), peer) != 0 || !away_sent)
        return;
    status_line("BUDDY-STATUS", buddy, now);
    if (strcmp(purple_status_get_id(now), "extended_away") == 0)
        peer_status_seen = 1;
    advance();
}

static void signed_off(PurpleConnection *gc, gpointer data)
{
    if (!session_started)
        return; /* a registration's connection */
    if (!logging_out)
        fail("signed off before the end");
    say("SIGNED-OFF");
    g_main_loop_quit(loop);
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError err, const char *desc, gpointer data)
{
    fail("connection error %d: %s", (int)err, desc);
}

/*
 * libpurple's own idea of PEER's subscription, as Pidgin's buddy tooltip
 * shows it ("Subscription: Both"). It follows the server's roster pushes,
 * which libpurple refuses without an id (1.4's had none): it stayed "None".
 */
static void say_subscription(void)
{
    PurpleBuddy *buddy = purple_find_buddy(account, peer);
    PurplePlugin *prpl = purple_find_prpl(purple_account_get_protocol_id(account));
    PurplePluginProtocolInfo *info = prpl ? PURPLE_PLUGIN_PROTOCOL_INFO(prpl) : NULL;
    if (!buddy || !info || !info->tooltip_text)
        fail("no tooltip for %s", peer);
    PurpleNotifyUserInfo *tooltip = purple_notify_user_info_new();
    info->tooltip_text(buddy, tooltip, TRUE);
    const char *value = "(not shown)";
    for (GList *l = purple_notify_user_info_get_entries(tooltip); l; l = l->next) {
        const char *label = purple_notify_user_info_entry_get_label(l->data);
        if (label && strcmp(label, "Subscription") == 0)
            value = purple_notify_user_info_entry_get_value(l->data);
    }
    say("SUBSCRIPTION %s %s", peer, value);
    purple_notify_user_info_destroy(tooltip);
}

/* Moves the session on once what the next step needs has happened. */
static void advance(void)
{
    if (buddy_online && !chat_sent) {
        chat_sent = 1;
        PurpleConversation *conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, peer);
        purple_conv_im_send(PURPLE_CONV_IM(conv), "Hello from libpurple");
    }
    if (reply_seen && !away_sent) {
        away_sent = 1;
        purple_account_set_status(account, "away", TRUE, "message", "Out to lunch", NULL);
        say("STATUS-SET away");
    }
    if (peer_status_seen && offline_seen && !logging_out) {
        logging_out = 1;
        say_subscription();
        say("LOGOUT");
        purple_account_set_enabled(account, UI_ID, FALSE); /* disconnects */
    }
}

static gboolean too_long(gpointer data)
{
    fail("still running after %d s", TOTAL_SECONDS);
    return FALSE;
}

/* UPnP and automatic IP detection off before libpurple reads its prefs. */
static void write_prefs(void)
{
    char *path = g_build_filename(userdir, "prefs.xml", NULL);
    const char *prefs = "<?xml version='1.0' encoding='UTF-8' ?>\n"
                        "<pref version='1' name='/'>\n"
                        " <pref name='purple'>\n"
                        "  <pref name='network'>\n"
                        "   <pref name='auto_ip' type='bool' value='0'/>\n"
                        "   <pref name='map_ports' type='bool' value='0'/>\n"
                        "  </pref>\n"
                        " </pref>\n"
                        "</pref>\n";
    if (!g_file_set_contents(path, prefs, -1, NULL))
        fail("cannot write %s", path);
    g_free(path);
}

int main(int argc, char **argv)
{
    static int handle;
    char jid[512];
    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT HOST USER PASSWORD PEER USERDIR\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    host = argv[2];
    user = argv[3];
    password = argv[4];
    peer = argv[5];
    userdir = argv[6];

    write_prefs();
    /* No D-Bus: libpurple would offer its service on the session bus (or
     * autolaunch one) and watch NetworkManager on the system bus. Buses
     * that cannot exist keep it to itself. */
    char *nobus = g_strdup_printf("unix:path=%s/no-such-bus", userdir);
    g_setenv("DBUS_SESSION_BUS_ADDRESS", nobus, TRUE);
    g_setenv("DBUS_SYSTEM_BUS_ADDRESS", nobus, TRUE);
    g_free(nobus);
    /* GStreamer, which libpurple starts for voice and video, keeps a registry
     * of its plugins in ~/.cache: kept in USERDIR too, with the rest. */
    char *registry = g_build_filename(userdir, "gstreamer-registry.bin", NULL);
    g_setenv("GST_REGISTRY", registry, TRUE);
    g_free(registry);
    purple_util_set_user_dir(userdir);
    purple_debug_set_ui_ops(&debug_ops);
    purple_core_set_ui_ops(&core_ops);
    purple_eventloop_set_ui_ops(&eventloop_ops);
    loop = g_main_loop_new(NULL, FALSE);
    if (!purple_core_init(UI_ID))
        fail("libpurple did not start");
    if (!purple_find_prpl("prpl-jabber"))
        fail("libpurple has no XMPP plugin (prpl-jabber)");
    purple_set_blist(purple_blist_new());
    purple_blist_load();

    snprintf(jid, sizeof jid, "%s@%s/%s", user, host, RESOURCE);
    account = purple_account_new(jid, "prpl-jabber");
    purple_account_set_password(account, password);
    purple_account_set_remember_password(account, TRUE); /* or libpurple forgets it once registered */
    purple_account_set_string(account, "connect_server", "127.0.0.1");
    purple_account_set_int(account, "port", port);
    purple_account_set_string(account, "connection_security", "opportunistic_tls");
    purple_accounts_add(account);

    void *connections = purple_connections_get_handle();
    void *blist = purple_blist_get_handle();
    purple_signal_connect(connections, "signed-on", &handle, PURPLE_CALLBACK(signed_on), NULL);
    purple_signal_connect(connections, "signed-off", &handle, PURPLE_CALLBACK(signed_off), NULL);
    purple_signal_connect(connections, "connection-error", &handle, PURPLE_CALLBACK(connection_error), NULL);
    purple_signal_connect(blist, "buddy-signed-on", &handle, PURPLE_CALLBACK(buddy_signed_on), NULL);
    purple_signal_connect(blist, "buddy-status-changed", &handle, PURPLE_CALLBACK(buddy_status_changed), NULL);
    purple_signal_connect(purple_find_prpl("prpl-jabber"), "jabber-receiving-xmlnode", &handle,
                          PURPLE_CALLBACK(receiving_xmlnode), NULL);
    g_timeout_add_seconds(TOTAL_SECONDS, too_long, NULL);

    purple_account_set_register_callback(account, registered, NULL);
    purple_account_register(account);
    g_main_loop_run(loop);

    /* Done: the account is disconnected and every step reported. No
     * purple_core_quit(): libpurple's own teardown was seen to die of a
     * signal after the logout (once, in a full test run), which says
     * nothing about the server, and nothing it would save is needed. */
    say("OK");
    fflush(stdout);
    _exit(0);
}
