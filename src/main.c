/* csocks: command line, configuration and logging; app_run() does the rest. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "csocks_build.h"
#include "csocks_commit.h"
#include "config/config.h"
#include "acl/acl_cli.h"
#include "acl/acl_config.h"
#include "acl/acl_compile.h"
#include "acl/acl_config_load.h"
#include "acl/acl_modes.h"
#include "app/app.h"
#include "auth/userpass.h"
#include "util/log.h"
#include "util/strutil.h"

struct cli {
	const char *config_path;
	const char *bind;
	const char *port;
	const char *log_level;
	const char *generate_path;
	bool check_only;
};

/* Read one line from stdin without echo when it is a terminal. */
static int read_password(char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) {
		fprintf(stderr, "Password: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *ok = fgets(buf, (int)size, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!ok)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -1;
}

static int main_hash_password(void)
{
	char pw[1024], hash[256];
	if (read_password(pw, sizeof(pw)) != 0) {
		fprintf(stderr, "error: no password given on stdin\n");
		return 1;
	}
	int rc = userpass_hash_password(pw, hash, sizeof(hash));
	explicit_bzero(pw, sizeof(pw));
	if (rc != 0) {
		fprintf(stderr, "error: hashing failed: %s\n", strerror(errno));
		return 1;
	}
	printf("%s\n", hash);
	return 0;
}

static int main_acl(int argc, char **argv)
{
	return acl_cli_main(argc, argv);
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: csocks [options]\n"
	    "       csocks acl check FILE\n"
	    "       csocks acl test (-c CONFIG | --acl FILE) --user U --dest D --port P\n"
	    "                       [--proto tcp|udp] [--group G]...\n"
	    "\n"
	    "A SOCKS5 proxy server, compatible with RustSocks' configuration.\n"
	    "\n"
	    "Options:\n"
	    "  -c, --config FILE          configuration file (TOML); defaults are used without it\n"
	    "      --bind ADDR            listen address (overrides server.bind_address)\n"
	    "      --port N               listen port (overrides server.bind_port)\n"
	    "      --log-level LEVEL      trace, debug, info, warn or error (overrides "
	    "logging.level)\n"
	    "      --check-config         validate the configuration and exit (0 valid, 1 "
	    "invalid)\n"
	    "      --generate-config FILE write a commented example configuration and exit\n"
	    "      --hash-password        read a password on stdin, print a crypt(3) hash for\n"
	    "                             [[auth.users]] password_hash, and exit\n"
	    "      --config-reference[=man]\n"
	    "                             print every configuration key as Markdown (or as\n"
	    "                             roff for csocks.toml(5)) and exit\n"
	    "  -V, --version              print the version and exit\n"
	    "  -h, --help                 show this help and exit\n");
}

/* Returns -1 to continue, otherwise an exit code. */
static int parse_cli(int argc, char **argv, struct cli *cli)
{
	enum { O_BIND = 256, O_PORT, O_LOG, O_CHECK, O_GEN, O_HASH, O_REF };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"bind", required_argument, NULL, O_BIND},
	    {"port", required_argument, NULL, O_PORT},
	    {"log-level", required_argument, NULL, O_LOG},
	    {"check-config", no_argument, NULL, O_CHECK},
	    {"generate-config", required_argument, NULL, O_GEN},
	    {"hash-password", no_argument, NULL, O_HASH},
	    {"config-reference", optional_argument, NULL, O_REF},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cli->config_path = optarg;
			break;
		case O_BIND:
			cli->bind = optarg;
			break;
		case O_PORT:
			cli->port = optarg;
			break;
		case O_LOG:
			cli->log_level = optarg;
			break;
		case O_CHECK:
			cli->check_only = true;
			break;
		case O_GEN:
			cli->generate_path = optarg;
			break;
		case O_HASH:
			return main_hash_password();
		case O_REF: {
			if (optarg && strcmp(optarg, "man") != 0 &&
			    strcmp(optarg, "markdown") != 0) {
				fprintf(stderr,
				        "csocks: --config-reference: '%s' is not man or markdown\n",
				        optarg);
				return 2;
			}
			char *md = optarg && strcmp(optarg, "man") == 0
			               ? config_reference_man()
			               : config_reference_markdown();
			if (!md) {
				fprintf(stderr, "error: out of memory\n");
				return 1;
			}
			fputs(md, stdout);
			free(md);
			return 0;
		}
		case 'V':
			printf("csocks %s (commit %s)\n", CSOCKS_VERSION, CSOCKS_GIT_COMMIT);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "csocks: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

static void print_diag(const struct config_diag *d)
{
	for (size_t i = 0; i < d->n_warnings; i++)
		fprintf(stderr, "warning: %s\n", d->warnings[i]);
	for (size_t i = 0; i < d->n_errors; i++)
		fprintf(stderr, "error: %s\n", d->errors[i]);
}

/* CLI overrides go on top of the file, then the whole config is checked
 * again, so "--port 0" is reported like "bind_port = 0" would be. */
static int apply_overrides(struct csocks_config *cfg, const struct cli *cli)
{
	if (cli->bind)
		config_set_str(&cfg->server.bind_address, cli->bind);
	if (cli->port) {
		uint64_t port;
		if (cs_parse_u64(cli->port, 1, 65535, &port) != 0) {
			fprintf(stderr, "error: --port: '%s' is not a port number (1..65535)\n",
			        cli->port);
			return -1;
		}
		cfg->server.bind_port = (uint32_t)port;
	}
	if (cli->log_level)
		config_set_str(&cfg->logging.level, cli->log_level);
	struct config_diag d = {0};
	int rc = config_validate(cfg, &d);
	print_diag(&d);
	config_diag_free(&d);
	return rc;
}

static struct csocks_config *load_config(const struct cli *cli)
{
	struct csocks_config *cfg;
	if (cli->config_path) {
		struct config_diag d;
		cfg = config_load(cli->config_path, &d);
		print_diag(&d);
		config_diag_free(&d);
		if (!cfg)
			return NULL;
	} else {
		cfg = config_new_default();
	}
	if (apply_overrides(cfg, cli) != 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void setup_logging(const struct csocks_config *cfg)
{
	enum log_level lvl = LOGL_INFO;
	enum log_format fmt = LOGF_TEXT;
	/* Both were validated; the fallbacks only guard against that changing. */
	(void)log_level_parse(cfg->logging.level, &lvl);
	(void)log_format_parse(cfg->logging.format, &fmt);
	log_setup(lvl, fmt);
}

/* --check-config: the ACL file the config names must load and compile in
 * the configured evaluation mode, as at start-up. Returns 0 or -1. */
static int check_acl(const struct csocks_config *cfg)
{
	struct acl_msgs msgs;
	enum acl_eval_mode mode = ACL_EVAL_PRIORITY;
	char err[256], ex[1400];
	int rc = -1;

	if (!cfg->acl.enabled)
		return 0;
	(void)acl_eval_mode_parse(cfg->acl.evaluation, &mode); /* validated */
	acl_msgs_init(&msgs);
	struct acl_config *acl = acl_config_load(cfg->acl.config_file, &msgs);
	for (size_t i = 0; i < msgs.n; i++)
		fprintf(stderr, "%s: %s\n", msgs.is_error[i] ? "error" : "warning", msgs.v[i]);
	if (acl) {
		acl->mode = mode;
		struct acl_snapshot *s = acl_compile(acl, err, sizeof(err));
		if (s) {
			printf("%s: ACL valid, evaluation %s\n", cfg->acl.config_file,
			       acl_eval_mode_name(mode));
			if (acl_modes_differ(acl, ex, sizeof(ex)) == 1)
				fprintf(
				    stderr,
				    "note: acl.evaluation matters for this file: the modes decide "
				    "differently, e.g. %s\n",
				    ex);
			rc = 0;
		} else {
			fprintf(stderr, "error: %s: %s\n", cfg->acl.config_file, err);
		}
		acl_snapshot_unref(s);
		acl_config_free(acl);
	}
	if (rc < 0)
		fprintf(stderr, "error: %s: the ACL file is invalid\n", cfg->acl.config_file);
	acl_msgs_fini(&msgs);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli = {0};
	int rc;

	if (argc > 1 && strcmp(argv[1], "acl") == 0)
		return main_acl(argc - 1, argv + 1);
	if ((rc = parse_cli(argc, argv, &cli)) >= 0)
		return rc;
	if (cli.generate_path) {
		if (config_generate(cli.generate_path) != 0) {
			fprintf(stderr, "error: %s: %s\n", cli.generate_path, strerror(errno));
			return 1;
		}
		printf("wrote %s\n", cli.generate_path);
		return 0;
	}
	struct csocks_config *cfg = load_config(&cli);
	if (!cfg)
		return 1;
	if (cli.check_only) {
		char loc[300];
		if (check_acl(cfg) < 0) {
			config_free(cfg);
			return 1;
		}
		char *dir = config_sqlite_missing_dir(cfg, loc, sizeof(loc));
		if (dir)
			fprintf(stderr, "note: %s: sessions.database_url: %s: will be created\n",
			        loc, dir);
		free(dir);
		printf("%s: configuration is valid\n", cfg->path ? cfg->path : "(defaults)");
		config_free(cfg);
		return 0;
	}
	setup_logging(cfg);
	log_info("csocks %s (commit %s) starting (config %s)", CSOCKS_VERSION, CSOCKS_GIT_COMMIT,
	         cfg->path ? cfg->path : "built-in defaults");
	rc = app_run(cfg);
	config_free(cfg);
	return rc;
}
