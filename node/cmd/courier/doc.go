// Command courier runs one courier node, or prints a client token.
//
//	courier [flags]                       run a node (defaults: in-memory, 127.0.0.1:8080)
//	courier token --user U [--device D] [--rooms 'a,b:*'] [--ttl 1h]
//	courier version
//	courier -h                            every flag with its default
//
// Every flag is also an environment variable COURIER_<FLAG> (upper case,
// '-' becomes '_') and a key of the YAML file named by --config (or
// COURIER_CONFIG). Flags beat env beat file beat defaults; each layer
// replaces a lower one's value whole, lists included. An empty environment
// variable counts as unset.
//
// Lists (--api-key, --admin-key, --join, --cors-origins) are comma-separated, and a
// repeated flag adds to them. --route is repeatable; in env, separate routes
// with ';'; in YAML, route: is a list. Durations are Go syntax ("300s") or a
// bare number of seconds.
//
// Without --api-key or --jwt-secret the node generates them, prints them
// once on stdout, and starts only if every listener is loopback. The token
// subcommand reads the JWT secret the same way the node does. Without
// --admin-key the /admin/ web UI is off (404); nothing is generated for it.
//
// Exit codes: 0 done, 1 the node failed, 2 bad flags or config.
//
// Example YAML:
//
//	listen: 0.0.0.0:8080
//	redis: redis://127.0.0.1:6379/0
//	api-key: [key1, key2]
//	admin-key: [operator-key]
//	jwt-secret: change-me
//	default-ttl: 300s
//	route:
//	  - trpc.app.echo.*=127.0.0.1:8000
package main
