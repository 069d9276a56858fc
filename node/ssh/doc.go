// Package ssh is a node backend whose nodes are existing Linux hosts reached
// over SSH (golang.org/x/crypto/ssh, files over SFTP with
// github.com/pkg/sftp). Each host in Config.Hosts is one node: the engine's
// nodes tvm-1, tvm-2, ... are placed on the hosts in list order, and an
// AddNode beyond the list fails. Tasks run on the host with Azure's
// directory layout under <Root>/<poolId>/<nodeId> and the same AZ_BATCH_*
// environment as on local nodes (see node.Layout and node.BatchEnv).
//
// # Host requirements
//
// Hosts are Linux machines with an OpenSSH-compatible sshd offering the
// sftp subsystem, /bin/sh, setsid (util-linux), mkdir, grep and rm, and a
// POSIX login shell for the SSH user. sshd's MaxSessions (default 10) must
// allow the pool's taskSlotsPerNode plus one (see WithMaxSessions). Every
// command goes through the user's login shell, and bash sources ~/.bashrc
// for commands sshd runs, so that file should return early when not
// interactive (Debian's default does); whatever it costs, every task pays.
//
// # Connections
//
// The backend keeps one SSH connection per host and multiplexes a session
// per command on it (at most WithMaxSessions at once, OpenSSH's MaxSessions
// being 10 by default; one is the SFTP session). Host keys are checked
// against Config.KnownHostsFile (OpenSSH's known_hosts format) unless
// Config.InsecureIgnoreHostKey, which logs a warning when the backend is
// made. A lost connection is redialled with exponential backoff
// (WithReconnectBackoff) for as long as the backend is open.
//
// # Node health
//
// A keepalive request goes to each host every keepalive interval; a host
// that leaves Count of them unanswered, or whose connection closes, is lost:
// the backend reports node.NodeLost to its node.NodeWatcher, and the
// attempts running on the host end with FailureInfo code task.FailureNodeLost
// (category servererror), which makes the engine requeue them. With the
// defaults (5s × 3) a silent host is declared lost within 20 seconds, a host
// whose sshd dies at once. When the host answers again, the backend
// recreates the node's directories, kills what the lost attempts left
// running, and reports node.NodeBack (the engine then reruns the start
// task). A node whose host cannot be reached when it is added fails to come
// up (the engine marks it unusable) and is reported back the same way once
// the host answers.
//
// # Commands
//
// Command lines are split into words by node.SplitCommandLine and run
// without a shell unless they ask for one ("/bin/sh -c '...'"). Because SSH
// hands a command to the remote login shell as one string, the backend runs
// a small /bin/sh wrapper with every word quoted by Quote (so the login
// shell must be a POSIX shell). The wrapper finds the program as execvp does
// (relative paths and relative PATH entries against the working directory;
// a missing program is a CommandProgramNotFound pre-processing error),
// exports the task's environment settings and the AZ_BATCH_* variables on
// top of the host's login environment, and starts the command with setsid
// (util-linux) so that it leads its own process group, with stdout and
// stderr going straight to stdout.txt and stderr.txt. The group's id is
// written to <nodeRoot>/.embatch/<attemptId>.pgid. The command also sees
// EMBATCH_ATTEMPT_TOKEN, a random value by which the backend recognises its
// processes. Environment setting names must be shell identifiers
// ([A-Za-z_][A-Za-z0-9_]*).
//
// When the command's main process exits, the rest of its process group is
// killed, as on local nodes. Terminating an attempt (terminate,
// maxWallClockTime, Close) closes its session's input, on which a watcher in
// the wrapper kills the whole group with SIGKILL; if the session has not
// ended a few seconds later, a second session kills the group named in the
// pgid file. The same watcher fires when sshd goes away or drops the
// connection, so a lost connection does not leave the task running on the
// host; and a group that survives anyway (the host was cut off while sshd
// kept the session) is killed when the host answers again. Processes that
// leave the group (setsid, daemons that double-fork) are not tracked, as on
// local nodes.
//
// Exit codes are what the remote sh reports: the command's own, or 128+N
// when signal N killed it, so a command that exits with 128+N on its own
// (N ≤ 64) is reported as killed by signal N (FailureInfo ProcessSignaled).
// Kill grace (SIGTERM first) is not offered: terminate means SIGKILL.
//
// # Files
//
// Resource files are fetched on this machine (which may be the only one
// that can reach their URLs, file:// ones included) by
// node.FetchResourceFiles and uploaded to the host over SFTP, after a check
// that the target directory resolves inside the task's directory. Output
// files are matched on the host over SFTP (node.UploadOutputFiles),
// downloaded to a temporary file here and handed to the Destination; the
// upload logs fileuploadout.txt and fileuploaderr.txt are written back into
// the task directory. Task files (stdout.txt, stderr.txt, wd/...) are read
// over SFTP (node.FileReader); names are checked lexically and resolved by
// the host's realpath, and a name that resolves outside the task directory
// is refused. (A task that swaps a checked path for a symbolic link between
// the check and the read can still win that race; the backend's SSH user
// can read the file anyway.) Node files are kept when a node is removed,
// unless WithDeleteNodeFiles.
//
// # Multi-instance tasks
//
// Every instance's node gets the task's common resource files in its task
// directory and runs the coordination command at once; when all succeed the
// main command runs on the primary, whose working directory got the
// resource files. AZ_BATCH_HOST_LIST, AZ_BATCH_MASTER_NODE and
// AZ_BATCH_IS_CURRENT_NODE_MASTER name the hosts as written in Config.Hosts
// (without user and port).
package ssh
