/* `csocks acl ...` subcommands (offline; no server needed).
 *
 *   acl check FILE
 *       Validate an ACL file. Errors and warnings go to stderr as
 *       "file:line:col: ..."; a summary goes to stdout.
 *       Exit 0 when valid (warnings allowed), 1 when invalid.
 *   acl test (-c CONFIG | --acl FILE) [--user U] --dest D --port P
 *            [--proto tcp|udp] [--group G]...
 *       Explain one decision. CONFIG is the csocks/RustSocks main config;
 *       only [acl] config_file and anonymous_user are read from it. --user
 *       defaults to anonymous_user ("anonymous"). D is a name (matched by
 *       name only: nothing is resolved) or an IP address. --group adds a
 *       group as if resolved at login (repeatable).
 *       Exit 0 allowed, 2 blocked, 1 usage or load error.
 *
 * argv[0] is "acl" (main dispatches `csocks acl ...` as argc-1, argv+1).
 */
#ifndef CSOCKS_ACL_CLI_H
#define CSOCKS_ACL_CLI_H

int acl_cli_main(int argc, char **argv);

#endif
