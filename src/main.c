/* salon: configuration, wiring of the layers, signals, shutdown. The only
 * file that includes every layer. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"
#include "config.h"
#include "core/audit.h"
#include "core/fanout.h"
#include "core/history.h"
#include "core/report.h"
#include "core/room.h"
#include "core/session.h"
#include "core/staff.h"
#include "core/ticket.h"
#include "irc/irc.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "net/net.h"
#include "policy/gate.h"
#include "policy/lockdown.h"
#include "policy/normalize.h"
#include "policy/rules.h"
#include "store/store.h"
#include "transport/http.h"
#include "transport/line.h"

/* An HTTP connection may have to carry a whole static file (transport/http.c
 * serves files up to 4 MiB) before it becomes a WebSocket, where the IRC
 * layer sets the configured SendQ. */
#define HTTP_SENDQ ((size_t)4 * 1024 * 1024 + 65536)

struct server {
    struct loop *loop;
    struct store *store;
    struct loop_watch signals;
    struct loop_watch store_watch;
    struct loop_timer tick;
    unsigned ticks;
};

static void usage(FILE *out)
{
    fputs("usage: salon [options]                 run the server\n"
          "       salon ticket [options] --nick NICK --age N [--gender G] [--region R]\n"
          "                                       print a signed session ticket\n"
          "       salon staff add NAME --role moderator|admin [options]\n"
          "                                       create a staff account (password on stdin)\n"
          "       salon audit verify [options]    check the audit log's hash chain\n"
          "\n"
          "options:\n"
          "  -c, --config FILE        read settings from FILE (INI; see salon.conf.example)\n"
          "      --irc HOST:PORT      IRC over TCP listener ('' disables)\n"
          "      --http HOST:PORT     HTTP + WebSocket listener ('' disables)\n"
          "      --data DIR           data directory (database, ticket key)\n"
          "      --web DIR            static files for the web page\n"
          "      --open-registration  let IRC clients register without a ticket\n"
          "      --log-level LEVEL    debug, info, warn or error\n"
          "  -h, --help               this help\n"
          "  -V, --version            print the version\n"
          "\n"
          "ticket options: --nick NICK --age N --gender woman|man|other|unsaid\n"
          "                --region 75|2A|BE|CH|CA|other --ttl SECONDS\n",
          out);
}

enum {
    OPT_IRC = 256, OPT_HTTP, OPT_DATA, OPT_WEB, OPT_OPEN, OPT_LOG, OPT_NICK, OPT_AGE,
    OPT_GENDER, OPT_REGION, OPT_TTL, OPT_ROLE,
};

struct ticket_args {
    const char *nick, *gender, *region, *role;
    long age, ttl;
};

static bool parse_args(int argc, char **argv, struct config *cfg, struct ticket_args *ta)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'}, {"irc", required_argument, NULL, OPT_IRC},
        {"http", required_argument, NULL, OPT_HTTP}, {"data", required_argument, NULL, OPT_DATA},
        {"web", required_argument, NULL, OPT_WEB}, {"open-registration", no_argument, NULL, OPT_OPEN},
        {"log-level", required_argument, NULL, OPT_LOG}, {"nick", required_argument, NULL, OPT_NICK},
        {"age", required_argument, NULL, OPT_AGE}, {"gender", required_argument, NULL, OPT_GENDER},
        {"region", required_argument, NULL, OPT_REGION}, {"ttl", required_argument, NULL, OPT_TTL},
        {"role", required_argument, NULL, OPT_ROLE},
        {NULL, 0, NULL, 0},
    };
    /* The config file first, so that flags override it wherever they are. */
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            if (!config_load(cfg, argv[i + 1]))
                return false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': break;
        case 'h': usage(stdout); exit(0);
        case 'V': puts("salon 0.1"); exit(0);
        case OPT_IRC: snprintf(cfg->listen_irc, sizeof cfg->listen_irc, "%s", optarg); break;
        case OPT_HTTP: snprintf(cfg->listen_http, sizeof cfg->listen_http, "%s", optarg); break;
        case OPT_DATA: snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", optarg); break;
        case OPT_WEB: snprintf(cfg->web_root, sizeof cfg->web_root, "%s", optarg); break;
        case OPT_OPEN: cfg->open_registration = true; break;
        case OPT_LOG: snprintf(cfg->log_level, sizeof cfg->log_level, "%s", optarg); break;
        case OPT_NICK: ta->nick = optarg; break;
        case OPT_AGE: ta->age = strtol(optarg, NULL, 10); break;
        case OPT_GENDER: ta->gender = optarg; break;
        case OPT_REGION: ta->region = optarg; break;
        case OPT_TTL: ta->ttl = strtol(optarg, NULL, 10); break;
        case OPT_ROLE: ta->role = optarg; break;
        default: usage(stderr); return false;
        }
    }
    if (log_level_parse(cfg->log_level) < 0) {
        fprintf(stderr, "salon: unknown log level '%s'\n", cfg->log_level);
        return false;
    }
    return true;
}

static bool make_data_dir(const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "salon: cannot create data directory %s: %s\n", dir, strerror(errno));
        return false;
    }
    return true;
}

static int run_ticket(const struct config *cfg, const struct ticket_args *ta)
{
    if (!ta->nick || !user_nick_valid(ta->nick) || ta->age <= 0 || ta->age > 120) {
        fprintf(stderr, "salon ticket: need --nick NICK (valid IRC nick) and --age N\n");
        return 2;
    }
    if (!make_data_dir(cfg->data_dir) || ticket_init(cfg->data_dir) != SL_OK)
        return 1;
    struct ticket t = {0};
    ticket_new_session_id(t.session);
    snprintf(t.nick, sizeof t.nick, "%s", ta->nick);
    t.profile.age = (int)ta->age;
    int g = ticket_gender_parse(ta->gender ? ta->gender : "unsaid");
    if (g < 0) {
        fprintf(stderr, "salon ticket: --gender is woman, man, other or unsaid\n");
        return 2;
    }
    t.profile.gender = (enum gender)g;
    snprintf(t.profile.region, sizeof t.profile.region, "%s", ta->region ? ta->region : "other");
    t.issued_ms = clock_wall_ms();
    t.expires_ms = t.issued_ms + (ta->ttl > 0 ? ta->ttl : cfg->ticket_ttl_s) * 1000;
    char out[TICKET_MAX + 1];
    if (ticket_mint(&t, out, sizeof out) != SL_OK) {
        fprintf(stderr, "salon ticket: cannot sign\n");
        return 1;
    }
    puts(out);
    return 0;
}

static struct store *open_store(const struct config *cfg)
{
    if (!make_data_dir(cfg->data_dir))
        return NULL;
    char dbpath[1100];
    snprintf(dbpath, sizeof dbpath, "%s/salon.db", cfg->data_dir);
    enum sl_err err = SL_OK;
    struct store *st = store_open(dbpath, &err);
    if (!st)
        fprintf(stderr, "salon: cannot open %s: %s\n", dbpath, sl_strerror(err));
    return st;
}

/* salon staff add NAME --role ROLE: the password comes from standard input
 * (one line), never from the command line where ps would show it. */
static int run_staff(const struct config *cfg, const struct ticket_args *ta, const char *name)
{
    if (!name || !staff_name_valid(name) || !ta->role || !staff_role_valid(ta->role)) {
        fprintf(stderr, "salon staff add NAME --role moderator|admin (password on stdin)\n");
        return 2;
    }
    char password[1024];
    if (!fgets(password, sizeof password, stdin)) {
        fprintf(stderr, "salon staff add: no password on standard input\n");
        return 2;
    }
    password[strcspn(password, "\r\n")] = '\0';
    if (sodium_init() < 0)
        return 1;
    struct store *st = open_store(cfg);
    if (!st)
        return 1;
    enum sl_err err = staff_add(st, name, ta->role, password);
    sodium_memzero(password, sizeof password);
    store_close(st);
    if (err == SL_ELIMIT) {
        fprintf(stderr, "salon staff add: the password must have at least 12 characters\n");
        return 2;
    }
    if (err) {
        fprintf(stderr, "salon staff add: %s\n", sl_strerror(err));
        return 1;
    }
    printf("staff account %s (%s) saved\n", name, ta->role);
    return 0;
}

static int run_audit_verify(const struct config *cfg)
{
    struct store *st = open_store(cfg);
    if (!st)
        return 1;
    bool ok = audit_verify(st, stdout);
    store_close(st);
    return ok ? 0 : 1;
}

static void on_signal(struct loop *loop, uint32_t events, void *ud)
{
    (void)events;
    struct server *s = ud;
    struct signalfd_siginfo si;
    while (read(s->signals.fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            log_info("signal %u: shutting down", si.ssi_signo);
            loop_stop(loop);
        } else if (si.ssi_signo == SIGHUP) {
            /* Re-reads the rule packs in the background (docs/rules.md). */
            log_info("SIGHUP: reloading the rule packs");
            rules_reload();
        }
    }
}

static void on_store(struct loop *loop, uint32_t events, void *ud)
{
    (void)loop;
    (void)events;
    store_dispatch(ud);
}

static void on_tick(struct loop *loop, void *ud)
{
    struct server *s = ud;
    irc_sweep(loop_now_ms(loop));
    net_sweep(loop_now_ms(loop));
    /* Expired sessions nobody uses are forgotten every ten minutes. */
    if (++s->ticks % 600 == 0)
        session_sweep(clock_wall_ms());
    loop_timer_arm(loop, &s->tick, 1000, on_tick, s);
}

/* After net/ has flushed the queues: rooms' next messages start new
 * buffers, and a rule set compiled in the background takes over between
 * two turns. */
static void on_before_sleep(struct loop *loop, void *ud)
{
    (void)loop;
    (void)ud;
    fanout_end_turn();
    rules_poll();
}

static bool listen_all(const char *list, enum conn_kind kind, const struct conn_ops *ops,
                       net_open_fn *open)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *a = strtok_r(buf, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
        if (net_listen(a, kind, ops, open) != SL_OK)
            return false;
    return true;
}

int main(int argc, char **argv)
{
    struct config cfg;
    struct ticket_args ta = {0};
    config_defaults(&cfg);
    /* Subcommands: "ticket", "staff add NAME", "audit verify". */
    const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    const char *staff_name = NULL;
    int shift = 0;
    if (sub && !strcmp(sub, "ticket")) {
        shift = 1;
    } else if (sub && !strcmp(sub, "staff") && argc > 3 && !strcmp(argv[2], "add")) {
        staff_name = argv[3];
        shift = 3;
    } else if (sub && !strcmp(sub, "audit") && argc > 2 && !strcmp(argv[2], "verify")) {
        shift = 2;
    } else if (sub) {
        fprintf(stderr, "salon: unknown command '%s'\n", sub);
        usage(stderr);
        return 2;
    }
    if (shift) {
        argv[shift] = argv[0];
        argc -= shift;
        argv += shift;
    }
    if (!parse_args(argc, argv, &cfg, &ta))
        return 2;
    log_set_level((enum log_level)log_level_parse(cfg.log_level));
    if (sub && !strcmp(sub, "ticket"))
        return run_ticket(&cfg, &ta);
    if (sub && !strcmp(sub, "staff"))
        return run_staff(&cfg, &ta, staff_name);
    if (sub && !strcmp(sub, "audit"))
        return run_audit_verify(&cfg);

    signal(SIGPIPE, SIG_IGN);
    /* Block the shutdown signals before any thread exists, so every thread
     * inherits the mask and only the loop's signalfd receives them. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if (!make_data_dir(cfg.data_dir) || ticket_init(cfg.data_dir) != SL_OK)
        return 1;

    struct server s = {0};
    char dbpath[1100];
    snprintf(dbpath, sizeof dbpath, "%s/salon.db", cfg.data_dir);
    enum sl_err err = SL_OK;
    s.store = store_open(dbpath, &err);
    if (!s.store) {
        log_error("cannot open storage %s: %s", dbpath, sl_strerror(err));
        return 1;
    }
    s.loop = loop_new();
    if (!s.loop)
        return 1;

    const struct config_protection *pc = &cfg.protection;
    policy_configure(&(struct policy_config){
        .flood_rate = (unsigned)cfg.flood_rate, .flood_burst = (unsigned)cfg.flood_burst,
        .per_address = (unsigned)cfg.per_address, .age_lock_ms = cfg.age_lock_s * 1000,
        .connect_per_minute = (unsigned)pc->connect_per_minute,
        .connect_prefix_per_minute = (unsigned)pc->connect_prefix_per_minute,
        .messages_per_minute = (unsigned)pc->messages_per_minute,
        .duplicate_targets = (unsigned)pc->duplicate_targets,
        .duplicate_sessions = (unsigned)pc->duplicate_sessions,
        .duplicate_window_ms = pc->duplicate_window_s * 1000,
        .new_session_ms = pc->new_session_s * 1000,
        .new_links_max = (unsigned)pc->new_links_max,
        .new_mentions_max = (unsigned)pc->new_mentions_max,
        .first_contacts_new = (unsigned)pc->first_contacts_new,
        .first_contacts_per_hour = (unsigned)pc->first_contacts_per_hour,
        .risk_half_life_ms = pc->risk_half_life_s * 1000, .risk_tip = (unsigned)pc->risk_tip,
        .risk_review = (unsigned)pc->risk_review, .risk_restrict = (unsigned)pc->risk_restrict,
        .session_review = (unsigned)pc->session_review,
        .friction_messages = (unsigned)pc->friction_messages,
        .pow_bits = (unsigned)pc->pow_bits});
    policy_init_store(s.store, clock_wall_ms());
    lockdown_init(s.store);
    /* The rules: salon does not run without them (docs/rules.md). */
    char cache[1100];
    snprintf(cache, sizeof cache, "%s", pc->rules_cache);
    if (!cache[0])
        snprintf(cache, sizeof cache, "%s/rules-cache", cfg.data_dir);
    rules_set_cache_dir(cache);
    if (normalize_init() != 0 || rules_init(pc->rules_dir, s.store) != 0) {
        log_error("the rule packs in %s did not load; see above (set [protection] rules_dir)",
                  pc->rules_dir);
        store_close(s.store);
        return 1;
    }
    room_configure(&(struct room_config){
        .user_rooms = cfg.user_rooms, .max_rooms_per_user = (unsigned)cfg.max_rooms_per_user,
        .history_memory = (unsigned)cfg.history_memory});
    irc_configure(&(struct irc_config){
        .server_name = cfg.server_name, .motd_path = cfg.motd_file,
        .open_registration = cfg.open_registration,
        .registration_timeout_s = (int)cfg.registration_timeout_s,
        .ping_interval_s = (int)cfg.ping_interval_s, .ping_timeout_s = (int)cfg.ping_timeout_s,
        .history_memory = (unsigned)cfg.history_memory, .chathistory_max = 100,
        .sendq = (size_t)cfg.sendq,
        .started_wall_ms = clock_wall_ms()});
    irc_init();
    history_init(s.store, 0);
    session_init(s.store, clock_wall_ms());
    policy_bans_init(s.store, clock_wall_ms());
    audit_init(s.store);
    report_init(s.store);
    staff_init(s.store);
    fanout_set_server_name(cfg.server_name);
    for (size_t i = 0; i < cfg.nrooms; i++)
        room_add_catalogue(cfg.rooms[i].name, cfg.rooms[i].topic, cfg.rooms[i].category);
    history_started();

    net_init(s.loop, &(struct net_config){
        .max_connections = (size_t)cfg.max_connections,
        .in_max = 16384, .sendq = (size_t)cfg.sendq,
        .sendq_http = HTTP_SENDQ});
    http_configure(&(struct http_config){.web_root = cfg.web_root});
    api_init(&(struct api_config){.ticket_ttl_ms = cfg.ticket_ttl_s * 1000,
                                  .secure_cookies = cfg.secure_cookies});

    bool ok = listen_all(cfg.listen_irc, CONN_IRC_TCP, &line_conn_ops, line_open) &&
              listen_all(cfg.listen_http, CONN_HTTP, &http_conn_ops, NULL);
    if (!ok) {
        store_close(s.store);
        return 1;
    }

    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    loop_add(s.loop, &s.signals, sfd, EPOLLIN, on_signal, &s);
    loop_add(s.loop, &s.store_watch, store_notify_fd(s.store), EPOLLIN, on_store, s.store);
    loop_timer_arm(s.loop, &s.tick, 1000, on_tick, &s);
    loop_add_before_sleep(s.loop, on_before_sleep, NULL);

    log_info("salon ready (%zu rooms, open registration %s)", room_count(),
             cfg.open_registration ? "on" : "off");
    loop_run(s.loop);

    net_shutdown("Server shutting down");
    fanout_end_turn();
    loop_del(s.loop, &s.store_watch);
    store_close(s.store);
    close(sfd);
    loop_free(s.loop);
    /* No rules_fini(): it would wait for a compile still running in the
     * background, and the process is ending anyway. */
    log_info("salon stopped");
    return 0;
}
