package ssh

import (
	"path"
	"strconv"
)

// The backend runs everything on a host through small POSIX sh scripts,
// sent as "exec /bin/sh -c <script> <name> <args>..." with every word
// quoted by Quote. Scripts only use sh builtins and, where noted, mkdir,
// grep, rm and setsid (util-linux), which every Linux host has.

// runScript runs one command of an attempt. Arguments:
//
//	$1 working directory (created if missing), $2 stdout file, $3 stderr
//	file, $4 pgid file, $5 "-" to look the program up in the host's PATH or
//	"=<PATH>" to look it up in the task's PATH, $6 the program word; then
//	NAME=VALUE settings to export; then "--"; then the absolute path of
//	setsid and the command's words.
//
// It looks the program up as execvp would (a word with '/' is a path
// relative to the working directory; a bare word is searched in PATH, where
// empty and relative entries are relative to the working directory) and
// prints "notrun <why> <detail>" if it cannot run. Otherwise it starts the
// command under setsid, so the command leads a new session and process
// group P, with stdin from /dev/null and stdout/stderr going straight to the
// files (no pipe, so a chatty command never waits for the backend). It
// writes "P TOKEN" to the pgid file and prints "pgid P". A watcher reads the
// session's stdin; when that ends (the backend closes it to terminate the
// attempt, or sshd goes away with the connection) it kills group P. When
// the command exits, whatever is left of group P is killed (background
// children do not outlive their task) and the script prints "exit S", S
// being the status as sh reports it (128+N for death by signal N).
//
// When it cannot set the command up (create or enter the working
// directory, create the output or pgid files) it exits non-zero without a
// report, and its standard error says why.
//
// The script's own variables are set before the task's settings are
// exported or after the command started, so a setting cannot change how the
// script or the command runs, and the command's environment holds only the
// login environment and the settings.
const runScript = `[ -d "$1" ] || mkdir -p -- "$1" || exit 90
cd -- "$1" || exit 90
exec 3<&0 4>"$2" 5>"$3" 6>"$4" </dev/null
case $5 in =*) l=${5#=} ;; *) l=$PATH ;; esac
p=$6
case $p in
*/*) f=$p ;;
*) f=
  set -f; IFS=:
  for d in $l; do
    [ -n "$d" ] || d=.
    if [ -f "$d/$p" ] && [ -x "$d/$p" ]; then f=$d/$p; break; fi
  done
  set +f
  [ -n "$f" ] || { echo "notrun path $l"; exit 0; } ;;
esac
[ -e "$f" ] || { echo "notrun missing $f"; exit 0; }
[ ! -d "$f" ] || { echo "notrun dir $f"; exit 0; }
[ -x "$f" ] || { echo "notrun noexec $f"; exit 0; }
shift 6
while [ $# -gt 0 ] && [ "$1" != -- ]; do export "$1"; shift; done
shift
"$@" </dev/null >&4 2>&5 3<&- 4>&- 5>&- 6>&- &
p=$!
echo "$p $EMBATCH_ATTEMPT_TOKEN" >&6
exec 6>&-
echo "pgid $p"
{ read -r x; kill -KILL -"$p" "$p"; } <&3 >/dev/null 2>&1 &
w=$!
exec 3<&- 4>&- 5>&-
wait "$p"
s=$?
kill -KILL -"$p" 2>/dev/null
kill -KILL "$w" 2>/dev/null
echo "exit $s"
`

// probeScript runs once per connection: it prints "setsid <path>", or
// "nosetsid" when the host has no setsid.
const probeScript = `if s=$(command -v setsid); then echo "setsid $s"; else echo nosetsid; fi
`

// prepareScript readies a node root ($1) on a host: it creates the
// directories of the layout and the backend's own directory $1/.embatch,
// and kills what earlier attempts left behind. An attempt's pgid file
// survives only when the backend lost the connection (or this process
// died) while the attempt ran; its process group is killed unless its
// number now belongs to an unrelated process, which is told apart by the
// attempt's token in the leader's environment (the number of a group is not
// reused while any member lives, so a missing leader means the group, if
// any, is ours).
const prepareScript = `mkdir -p -- "$1/shared" "$1/startup" "$1/workitems" "$1/.embatch" || exit 1
cd -- "$1/.embatch" || exit 1
for f in *.pgid; do
  [ -f "$f" ] || continue
  read -r p k <"$f" || p=
  case $p in ''|*[!0-9]*) ;; *)
    if [ ! -e "/proc/$p" ] || grep -qsF "EMBATCH_ATTEMPT_TOKEN=$k" "/proc/$p/environ"; then
      kill -KILL -"$p" 2>/dev/null
    fi ;;
  esac
  rm -f -- "$f"
done
echo ok
`

// killScript kills the process group named in a pgid file ($1), as a
// fallback when closing a session's stdin did not end its command.
const killScript = `read -r p k <"$1" && kill -KILL -"$p" "$p" 2>/dev/null; exit 0
`

// removeScript deletes the directories given as arguments.
const removeScript = `rm -rf -- "$@"
`

// remoteCommand is the command string that runs script under /bin/sh with
// args as $1, $2, ...: "exec /bin/sh -c <script> embatch <args>...".
func remoteCommand(script string, args ...string) (string, error) {
	return QuoteWords(append([]string{"exec", "/bin/sh", "-c", script, "embatch"}, args...))
}

// pgidFile is where runScript records attempt id's process group under a
// node root: <root>/.embatch/<id>.pgid. The coordination and main commands
// of a multi-instance task on one node run one after the other, so one file
// serves both.
func pgidFile(nodeRoot string, attemptID uint64) string {
	return path.Join(nodeRoot, ".embatch", strconv.FormatUint(attemptID, 10)+".pgid")
}

// isShellName reports whether name can be exported by a POSIX shell: a
// letter or '_', then letters, digits and '_'.
func isShellName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
