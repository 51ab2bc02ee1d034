"""A qemu TCG plugin that counts the instructions each call of the policy executes, built with
the host's gcc at run time.

Debian's qemu-system-arm 7.2 ships no qemu-plugin.h, so the source declares the few functions
and types of plugin API version 1 it uses itself (from qemu 7.2's include/qemu/qemu-plugin.h).
qemu has no cycle model: this is an exact, repeatable instruction count, not a cycle count.

A call is counted from rayprune_forward's first instruction (`entry=`) to the instruction its
return lands on (`ret=`), that one excluded: everything the decision executes, the policy's
own code and whatever it calls (libgcc's soft float on a Cortex-M0, memset). At exit the plugin
writes "calls total min max" to `out=`.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rayprune.policy.c_runtime import CFLAGS, _run, tool

PLUGIN_LIBRARY = "rayprune_count.so"

PLUGIN_C = r"""
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* plugin API version 1, as qemu 7.2 declares it */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
void qemu_plugin_register_vcpu_tb_trans_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(
    struct qemu_plugin_insn *insn, void (*cb)(unsigned int vcpu_index, void *userdata),
    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(
    qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, void *userdata), void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum kind { PLAIN, ENTRY, RETURN };

static uint64_t entry, ret;
static char out_path[4096];
static int active;
static uint64_t current, calls, total, least = UINT64_MAX, most;

static void on_insn(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    switch ((enum kind)(uintptr_t)udata) {
    case ENTRY:
        /* a loop may branch back to the first instruction: only a call starts a count */
        current = active ? current + 1 : 1;
        active = 1;
        break;
    case RETURN:
        if (active) {
            calls += 1;
            total += current;
            least = current < least ? current : least;
            most = current > most ? current : most;
        }
        active = 0;
        break;
    default:
        current += (uint64_t)active;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; ++i) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t address = qemu_plugin_insn_vaddr(insn);
        enum kind kind = address == entry ? ENTRY : address == ret ? RETURN : PLAIN;
        qemu_plugin_register_vcpu_insn_exec_cb(
            insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)kind);
    }
}

static void on_quit(qemu_plugin_id_t id, void *udata)
{
    FILE *f = fopen(out_path, "w");
    (void)id;
    (void)udata;
    if (f != NULL) {
        fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", calls, total,
                calls ? least : 0, most);
        fclose(f);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(
    qemu_plugin_id_t id, const void *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; ++i) {
        if (strncmp(argv[i], "entry=", 6) == 0) {
            entry = strtoull(argv[i] + 6, NULL, 0);
        } else if (strncmp(argv[i], "ret=", 4) == 0) {
            ret = strtoull(argv[i] + 4, NULL, 0);
        } else if (strncmp(argv[i], "out=", 4) == 0 && strlen(argv[i]) < sizeof out_path + 4) {
            strcpy(out_path, argv[i] + 4);
        } else {
            return -1;
        }
    }
    if (entry == 0 || ret == 0 || out_path[0] == '\0') {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_quit, NULL);
    return 0;
}
"""


class Tally(NamedTuple):
    """What the plugin wrote: calls counted, instructions in all of them, fewest and most in
    one call."""

    calls: int
    total: int
    least: int
    most: int


def build_plugin(workdir: Path) -> Path:
    """workdir/rayprune_count.so, built by the host's gcc."""
    source = Path(workdir) / "rayprune_count.c"
    source.write_text(PLUGIN_C)
    target = source.with_name(PLUGIN_LIBRARY)
    command = [tool("gcc", "gcc"), *CFLAGS, "-O2", "-fPIC", "-shared", str(source)]
    _run([*command, "-o", str(target)], source.parent)
    return target


def plugin_args(library: Path, entry: int, ret: int, out: Path) -> str:
    """The value of qemu's -plugin option."""
    return f"{library},entry={entry:#x},ret={ret:#x},out={out}"


def read_tally(path: Path) -> Tally | None:
    """The plugin's counts, or None when it wrote none (qemu did not exit cleanly)."""
    if not path.is_file():
        return None
    calls, total, least, most = (int(v) for v in path.read_text().split())
    return Tally(calls, total, least, most)
