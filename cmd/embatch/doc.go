// Command embatch runs Azure Batch jobs on this machine.
//
//	embatch run [--data DIR] [--json] [--quiet] FILE...
//	embatch help [command]
//
// # embatch run
//
// embatch run reads job files, checks all of them, creates an in-process
// Batch account whose data lives in DIR (default ./embatch-data), creates the
// pools, waits for their nodes, adds every job with its tasks, waits until
// every job has ended and prints a report. For example:
//
//	go run ./cmd/embatch run examples/quickstart.json
//
// While it runs, progress goes to stderr: a live bar with the task counts
// when stderr is a terminal, otherwise a line such as
//
//	embatch: 4.2s: 21 tasks: 3 active, 4 running, 13 succeeded, 1 failed
//
// every 2 seconds in which something changed, and one at the end. --quiet
// turns progress off.
//
// The report goes to stdout. By default it is a table per job of its tasks
// (state, result, exit code, retries, requeues, node, duration; jobs of more
// than 50 tasks list only the tasks that did not succeed), followed, for
// every failed task, by its failure and the last lines of its stderr.txt.
// With --json it is
//
//	{"jobs": [{"id": ..., "state": ..., "taskCounts": {...}, "tasks": [...]}]}
//
// where each task has Azure's CloudTask fields id, state, executionInfo
// (startTime, endTime, exitCode, result, retryCount, requeueCount,
// failureInfo, ...) and nodeInfo (poolId, nodeId, taskRootDirectory).
//
// # Exit status
//
//   - 0: every task of every job succeeded.
//   - 1: a task failed, or never ran (for example because a task it depends
//     on failed, or its pool has no usable node), or the run itself failed.
//   - 2: bad usage or bad input. Every file is read, decoded and checked
//     before anything starts, so with status 2 no pool was created, no
//     process ran and the data directory was not touched.
//   - 130: interrupted by SIGINT (Ctrl-C) or SIGTERM. Every job is then
//     terminated: running tasks are killed (their whole process group),
//     release tasks run, and the report shows what happened. A second
//     interrupt, or 10 seconds, cuts the wait short; whatever still runs is
//     killed before embatch exits.
//
// # Job files
//
// Field names and meanings are Azure Batch's REST API ones
// (https://learn.microsoft.com/rest/api/batchservice/): a file is either one
// job, Azure's JobAddParameter with two more fields,
//
//	{
//	  "id": "quickstart",
//	  "poolInfo": {"poolId": "local"},
//	  "usesTaskDependencies": true,
//	  "onAllTasksComplete": "terminatejob",
//	  "tasks": [
//	    {"id": "0", "commandLine": "/bin/sh -c 'echo part 0'"},
//	    {"id": "merge", "commandLine": "echo done", "dependsOn": {"taskIds": ["0"]}}
//	  ],
//	  "taskFactory": {...}
//	}
//
// where "tasks" holds Azure TaskAddParameter objects and "taskFactory" makes
// more tasks (see below); or an object with pools (Azure's PoolAddParameter
// plus "backend") and jobs of that same form:
//
//	{"pools": [{"id": "p", "targetDedicatedNodes": 2, "taskSlotsPerNode": 4}],
//	 "jobs": [{"id": "j", "poolInfo": {"poolId": "p"}, "tasks": [...]}]}
//
// A FILE of "-" is read from stdin. Decoding is strict: an unknown field
// (names are case-sensitive), a value of the wrong JSON type, a key given
// twice, an invalid id or enum value, a task depending on a task that does
// not exist, a dependency cycle, a task needing more slots than its pool's
// nodes have: each is reported with the file, line and column, the JSON path
// (such as jobs[0].tasks[3].requiredSlots), the value and what is wrong, and
// embatch exits with status 2.
//
// Command lines run without a shell, as on Azure: write /bin/sh -c '...' for
// one. Each task runs in its own working directory with Azure's AZ_BATCH_*
// variables; see package github.com/embatch/embatch/node/local.
//
// # Pools
//
// A job runs on the pool its poolInfo names:
//
//   - a pool defined in "pools" of any of the files;
//   - an auto pool: poolInfo.autoPoolSpecification.pool is a pool spec, and
//     the pool's id is autoPoolIdPrefix + "_" + job id (the job id alone
//     without a prefix), as engine.Account.AddJob names it;
//   - otherwise a default pool with that id: one local node per CPU, one
//     task slot per node. Jobs naming the same undefined pool share it.
//
// A pool whose targetDedicatedNodes and targetLowPriorityNodes are both 0
// (or unset) gets one node per CPU as well (an SSH pool: one node per
// host). "backend": {"type": "local"} (the default) runs the pool's nodes
// as directories under DIR/pools/<poolId>/nodes and its tasks as local
// processes; "backend": {"type": "ssh", "hosts": [...], ...} runs them on
// SSH hosts (see the README); other backend types are an error.
//
// # Jobs that do not end by themselves
//
// A job ends when all its tasks are complete only if it sets
// "onAllTasksComplete": "terminatejob"; on Azure others stay active forever,
// and so do jobs whose remaining tasks wait on a failed dependency. embatch
// run waits until a job can make no more progress (nothing runs and nothing
// can start) and then terminates it itself, so that its job release tasks run
// and the run finishes. The termination reason in the report says why:
// AllTasksComplete (every task completed), TasksBlocked (tasks wait on a
// failed dependency), JobDisabled (an exit condition disabled the job) or
// PoolUnusable (no node of the pool could run tasks, for example because
// every start task failed).
//
// # Task factories
//
// "taskFactory" is the task factory of the Azure Batch CLI extensions' job
// templates (https://github.com/Azure/azure-batch-cli-extensions, doc
// taskFactories.md). Its "type" is one of:
//
// taskCollection: "tasks" lists the tasks, as the job's own "tasks" does.
//
// parametricSweep: "parameterSets" is a list of {"start", "end", "step"}
// ranges (end inclusive, step 1 by default, negative when end < start) and
// "repeatTask" a task template. One task is made per combination of values,
// the last set varying fastest, with ids "0", "1", ... In every string of the
// template, {0} is replaced by the value of set 0, {1} by that of set 1, and
// {0:4} by the value of set 0 zero-padded to 4 digits (1 to 9). Write {{ and
// }} for literal braces (as in /bin/sh -c 'echo ${{HOME}}'); any other brace
// is an error.
//
// taskPerFile: one task per file of "source", ids "0", "1", ... in the order
// of the files' paths. Azure's sources are storage file groups and
// containers; embatch reads a local directory:
//
//	"source": {"path": "inputs", "prefix": "2024/", "pattern": "**/*.csv"}
//
// path is the directory (relative to the job file's directory unless
// absolute); prefix, if set, keeps the files whose path relative to the
// directory starts with it; pattern, if set, keeps those whose relative path
// matches it ('*' and '?' within a name, '**' across directories; default
// every file). Hidden files and directories (names starting with '.') are
// left out. Matching no file is an error. In every string of "repeatTask"
// these placeholders are replaced:
//
//	{url}                       file:///abs/inputs/2024/a.csv (usable as a resource file's httpUrl)
//	{filePath}                  2024/a.csv, the path relative to the directory
//	{fileName}                  a.csv
//	{fileNameWithoutExtension}  a
//	{fullName}                  /abs/inputs/2024/a.csv
//	{fullNameWithoutExtension}  /abs/inputs/2024/a
//
// Both factories accept a "mergeTask": a task (id "merge" unless it sets one)
// that depends on every generated task; the job then uses task dependencies.
// A repeatTask may not set "id" or "dependsOn". A factory makes at most
// 1,000,000 tasks. The job's "tasks", if any, come before the generated ones.
//
// # Files and URLs
//
// Relative file URLs are resolved by embatch before the job starts:
//
//   - resource files (httpUrl, storageContainerUrl) and a taskPerFile
//     source path: against the directory of the job file (the working
//     directory for "-"), so that inputs can sit beside it
//     ("file:./data/in.txt", "file://./data/in.txt");
//   - output file destinations (outputFiles[].destination.container
//     .containerUrl): against the data directory, so that a run's outputs
//     stay with its account: "file://./outputs" is DIR/outputs, as is the
//     plain path "outputs".
//
// A relative file URL is "file:" followed by a path that does not start with
// "/", or "file://." or "file://.." followed by the rest of the path.
// Absolute ones ("file:///abs/dir") are used as they are.
//
// # Data directory
//
// DIR/pools/<poolId>/nodes/<nodeId> is a node's root: shared/, startup/ and
// workitems/<jobId>/job-1/<taskId>/{stdout.txt,stderr.txt,wd/}. The account
// itself is kept in memory for now; running again with the same DIR reuses
// the node directories (task logs are overwritten). Delete DIR for a clean
// start.
package main
