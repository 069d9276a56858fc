#!/usr/bin/python3
"""M/M/c in SimPy: the peer of `embatch sim` on the same model.

Customers arrive in a Poisson stream of rate LAMBDA, wait FCFS for one of C
servers (a SimPy Resource of capacity C) and hold it for an exponential
service time of mean 1/MU. The script runs N customers until the system is
empty and prints one JSON line.

    /usr/bin/python3 bench/simpy/mmc.py --n 100000 --c 4 --lam 3.6 --mu 1 --seed 1

Two SimPy generations are packaged by Debian: --api 3 (the default) uses
python3-simpy3 (`import simpy`: Environment, Resource, processes as
generators), --api 2 uses python3-simpy (SimPy 2.3, `SimPy.Simulation`:
Process classes, `yield request/hold/release`). Run it with Debian's
/usr/bin/python3, which sees both packages.

What is timed. As in `embatch sim`, whose wall_s is the event loop alone
(the workload is generated before it), the inter-arrival and service times
are drawn before the clock starts (random.expovariate, seeded); wall_s is
the time of env.run() / simulate() only (cpu_s: its CPU time).

How events are counted:
  events         arrivals + completions = 2N, the model's events. It is
                 the count `embatch sim` reports for the same run, less its
                 C node-up events (its kernel has one event per arrival and
                 one per completion; a start happens inside one of them).
                 events_per_s = events / wall_s, the comparable rate.
  kernel_events  what SimPy's own scheduler queued (and, the run ending
                 with an empty queue, processed): SimPy 3 counts each
                 scheduled event (Environment._eid), SimPy 2 each posted
                 event notice (Simulation._sortpr). Several per customer
                 (timeouts, process start and end, request and release).

Also printed: the mean wait over all N customers (the queue starts empty,
as in `embatch sim`) and the Erlang C mean wait of the model, so that both
sides can be seen to simulate the same queue.
"""

import argparse
import json
import math
import random
import sys
import time


def erlang_c(c, lam, mu):
    """Probability that an arrival waits in M/M/c (lam < c*mu)."""
    a = lam / mu
    term, s = 1.0, 1.0  # a^k/k! for k = 0, and the sum for k < c
    for k in range(1, c):
        term *= a / k
        s += term
    top = term * a / c * c / (c - a)  # a^c/c! * c/(c-a)
    return top / (s + top)


def mmc_wait(c, lam, mu):
    """Mean wait in queue of M/M/c: C(c, a) / (c*mu - lam)."""
    return erlang_c(c, lam, mu) / (c * mu - lam)


def run3(c, inter, serv):
    import simpy

    env = simpy.Environment()
    res = simpy.Resource(env, capacity=c)
    acc = [0.0]

    def customer(s):
        arrive = env.now
        with res.request() as req:
            yield req
            acc[0] += env.now - arrive
            yield env.timeout(s)

    def source():
        for i, s in zip(inter, serv):
            yield env.timeout(i)
            env.process(customer(s))

    env.process(source())
    t0, c0 = time.perf_counter(), time.process_time()
    env.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, acc[0], next(env._eid), env.now, simpy.__version__


def run2(c, inter, serv):
    import SimPy
    from SimPy.Simulation import Simulation, Process, Resource, hold, request, release

    sim = Simulation()
    res = Resource(capacity=c, sim=sim)
    acc = [0.0]

    class Customer(Process):
        def run(self, s):
            arrive = self.sim._t
            yield request, self, res
            acc[0] += self.sim._t - arrive
            yield hold, self, s
            yield release, self, res

    class Source(Process):
        def run(self):
            for i, s in zip(inter, serv):
                yield hold, self, i
                cu = Customer(sim=sim)
                sim.activate(cu, cu.run(s))

    src = Source(sim=sim)
    sim.activate(src, src.run())
    t0, c0 = time.perf_counter(), time.process_time()
    sim.simulate(until=math.inf)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    version = getattr(SimPy, "__version__", "2.3.1")
    return wall, cpu, acc[0], -sim._sortpr, sim._t, version


def write_swf(path, c, inter, serv):
    """Write the customers as a Standard Workload Format trace: one
    single-processor job each, submitted at its arrival, running for its
    service time, times to the nanosecond (embatch's resolution)."""
    with open(path, "w") as f:
        f.write("; M/M/c customers from bench/simpy/mmc.py\n; MaxProcs: %d\n" % c)
        t = 0.0
        for k, (i, s) in enumerate(zip(inter, serv)):
            t += i
            f.write("%d %.9f -1 %.9f 1 -1 -1 1 -1 -1 1 1 1 -1 -1 -1 -1 -1\n" % (k + 1, t, s))


def main():
    p = argparse.ArgumentParser(description="M/M/c in SimPy (peer of embatch sim)")
    p.add_argument("--n", type=int, default=100_000, help="customers")
    p.add_argument("--c", type=int, default=4, help="servers")
    p.add_argument("--lam", type=float, default=3.6, help="arrival rate")
    p.add_argument("--mu", type=float, default=1.0, help="service rate of one server")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--api", choices=["2", "3"], default="3",
                   help="3: python3-simpy3 (simpy); 2: python3-simpy (SimPy.Simulation)")
    p.add_argument("--swf", metavar="FILE",
                   help="also write the drawn customers as an SWF trace, for "
                        "`embatch sim --swf FILE --nodes C` (the very same queue)")
    a = p.parse_args()
    if a.n < 1 or a.c < 1 or a.lam <= 0 or a.mu <= 0:
        p.error("want n, c >= 1 and lam, mu > 0")
    if a.lam >= a.c * a.mu:
        p.error("lam >= c*mu: the queue is unstable")

    rng = random.Random(a.seed)
    inter = [rng.expovariate(a.lam) for _ in range(a.n)]
    serv = [rng.expovariate(a.mu) for _ in range(a.n)]

    if a.swf:
        write_swf(a.swf, a.c, inter, serv)

    run = run3 if a.api == "3" else run2
    wall, cpu, wait_sum, kernel_events, end, version = run(a.c, inter, serv)

    events = 2 * a.n
    want = mmc_wait(a.c, a.lam, a.mu)
    got = wait_sum / a.n
    out = {
        "tool": "simpy",
        "simpy_api": int(a.api),
        "simpy_version": version,
        "python": sys.version.split()[0],
        "tasks": a.n,
        "servers": a.c,
        "lambda": a.lam,
        "mu": a.mu,
        "rho": a.lam / (a.c * a.mu),
        "seed": a.seed,
        "events": events,
        "kernel_events": kernel_events,
        "wall_s": wall,
        "cpu_s": cpu,
        "events_per_s": events / wall,
        "kernel_events_per_s": kernel_events / wall,
        "end_s": end,
        "wait_mean_s": got,
        "erlang_c_wait_s": want,
        "wait_error": (got - want) / want,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
