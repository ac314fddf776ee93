//! The KCP ARQ: a sans-IO port of the reference `ikcp.c` (issue: KCP ARQ).
