"""The firmware a policy runs in on an emulated chip: start-up (vector table, .data/.bss, FPU
enable), a loop serving the host's observations over ARM semihosting, and the linker script.

Transport: semihosting on the console (SYS_READ/SYS_WRITE on ":tt", which qemu 7.2 with
`-semihosting-config target=native` and no chardev maps to its own stdin and stdout), in binary
float32 frames. Chosen over the emulated UART because it is the CPU's (a BKPT 0xAB trap handled
by qemu), not the board's: one firmware serves every board, with no UART driver, FIFO polling
or baud rate, and SYS_EXIT_EXTENDED ends qemu with the firmware's own exit code, so a fault is
told apart from a clean end. SYS_READ is then a blocking read(2) of qemu's stdin, a pipe from
the host. With `chardev=` on a stdio chardev instead, qemu reads stdin itself, non-blocking,
and SYS_READ of ":tt" failed (measured, qemu 7.2): that set-up only serves output.

Protocol (little-endian): the firmware first writes MAGIC, RAYPRUNE_OBS_DIM and
RAYPRUNE_OUT_DIM as three uint32; then, for each uint32 command CMD_FORWARD followed by one
observation (RAYPRUNE_OBS_DIM float32), it writes RAYPRUNE_OUT_DIM float32; CMD_EXIT ends it
(exit code 0). Any fault exits with FAULT_EXIT.
"""

from __future__ import annotations

from rayprune.policy.chip.boards import Board

MAGIC = 0x4E525052  # "RPRN" as little-endian bytes
CMD_FORWARD = 1
CMD_EXIT = 2
FAULT_EXIT = 3
BAD_COMMAND_EXIT = 4
ENTRY_SYMBOL = "rayprune_forward"
RETURN_SYMBOL = "rayprune_chip_returned"  # the instruction after the call's bl

FIRMWARE_C = f"""\
/* rayprune's firmware for a policy on an emulated Cortex-M (see rayprune/policy/chip) */
#include "policy.h"

typedef unsigned int u32;
typedef void (*handler)(void);

extern u32 __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern u32 __stack_top[];

void rayprune_chip_reset(void);
void rayprune_chip_fault(void);
void rayprune_chip_call(const float *obs, float *out);
int main(void);
void *memset(void *s, int c, unsigned int n);
void *memcpy(void *d, const void *s, unsigned int n);

struct vectors {{
    u32 *stack;
    handler entries[15];
}};

__attribute__((section(".vectors"), used)) static const struct vectors vector_table = {{
    __stack_top,
    {{rayprune_chip_reset, rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault,
      rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault,
      rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault,
      rayprune_chip_fault, rayprune_chip_fault, rayprune_chip_fault}},
}};

/* The call to the policy in assembly, so that the instruction it returns to carries a symbol:
   the instruction counter counts from rayprune_forward's first instruction to there. */
__asm__(
    "  .text\\n"
    "  .thumb\\n"
    "  .global rayprune_chip_call\\n"
    "  .type rayprune_chip_call, %function\\n"
    "  .thumb_func\\n"
    "rayprune_chip_call:\\n"
    "  push {{r4, lr}}\\n"
    "  bl {ENTRY_SYMBOL}\\n"
    "  .global {RETURN_SYMBOL}\\n"
    "{RETURN_SYMBOL}:\\n"
    "  pop {{r4, pc}}\\n");

/* ARM semihosting: the operation in r0, its argument block in r1, the result in r0 */
static int semihost(int op, const void *args)
{{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}}

static void chip_exit(int code)
{{
    const u32 args[2] = {{0x20026u, (u32)code}}; /* ADP_Stopped_ApplicationExit */
    semihost(0x20, args);                       /* SYS_EXIT_EXTENDED */
    for (;;) {{
    }}
}}

static int open_console(u32 mode)
{{
    const u32 args[3] = {{(u32)":tt", mode, 3u}};
    return semihost(0x01, args); /* SYS_OPEN: mode 0 stdin, 4 stdout */
}}

static void read_all(int fd, void *buf, u32 len)
{{
    unsigned char *p = buf;
    while (len > 0) {{
        u32 args[3];
        int left;
        args[0] = (u32)fd;
        args[1] = (u32)p;
        args[2] = len;
        left = semihost(0x06, args); /* SYS_READ: returns the bytes not read */
        if (left < 0 || (u32)left == len) {{
            chip_exit({BAD_COMMAND_EXIT}); /* end of input or an error */
        }}
        p += len - (u32)left;
        len = (u32)left;
    }}
}}

static void write_all(int fd, const void *buf, u32 len)
{{
    const u32 args[3] = {{(u32)fd, (u32)buf, len}};
    if (semihost(0x05, args) != 0) {{ /* SYS_WRITE: returns the bytes not written */
        chip_exit({BAD_COMMAND_EXIT});
    }}
}}

int main(void)
{{
    float obs[RAYPRUNE_OBS_DIM], out[RAYPRUNE_OUT_DIM];
    const u32 hello[3] = {{{MAGIC:#x}u, RAYPRUNE_OBS_DIM, RAYPRUNE_OUT_DIM}};
    int in = open_console(0), result = open_console(4);
    u32 command;
    write_all(result, hello, sizeof hello);
    for (;;) {{
        read_all(in, &command, sizeof command);
        if (command != {CMD_FORWARD}u) {{
            return command == {CMD_EXIT}u ? 0 : {BAD_COMMAND_EXIT};
        }}
        read_all(in, obs, sizeof obs);
        rayprune_chip_call(obs, out);
        write_all(result, out, sizeof out);
    }}
}}

void rayprune_chip_reset(void)
{{
    u32 *src = __data_load, *dst = __data_start;
    while (dst < __data_end) {{
        *dst++ = *src++;
    }}
    for (dst = __bss_start; dst < __bss_end; ++dst) {{
        *dst = 0;
    }}
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11, the FPU; float code faults without it */
    *(volatile u32 *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\\n\\tisb" ::: "memory");
#endif
    chip_exit(main());
}}

void rayprune_chip_fault(void)
{{
    chip_exit({FAULT_EXIT});
}}

/* gcc may call these for the policy's zeroing or copying loops; no libc is linked for them */
void *memset(void *s, int c, unsigned int n)
{{
    unsigned char *p = s;
    while (n-- > 0) {{
        *p++ = (unsigned char)c;
    }}
    return s;
}}

void *memcpy(void *d, const void *s, unsigned int n)
{{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n-- > 0) {{
        *p++ = *q++;
    }}
    return d;
}}
"""

LINKER_SCRIPT = """\
MEMORY
{{
    FLASH (rx) : ORIGIN = {flash_origin:#x}, LENGTH = {flash_length:#x}
    RAM (rwx) : ORIGIN = {ram_origin:#x}, LENGTH = {ram_length:#x}
}}
ENTRY(rayprune_chip_reset)
SECTIONS
{{
    .text : {{
        KEEP(*(.vectors))
        *(.text .text.*)
        *(.rodata .rodata.*)
        . = ALIGN(4);
    }} > FLASH
    .ARM.exidx : {{ *(.ARM.exidx*) }} > FLASH
    .data : {{
        __data_start = .;
        *(.data .data.*)
        . = ALIGN(4);
        __data_end = .;
    }} > RAM AT > FLASH
    __data_load = LOADADDR(.data);
    .bss (NOLOAD) : {{
        __bss_start = .;
        *(.bss .bss.* COMMON)
        . = ALIGN(4);
        __bss_end = .;
    }} > RAM
    __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}}
"""


def linker_script(board: Board) -> str:
    """The linker script placing code and constants in the board's flash, data in its RAM and
    the stack at RAM's top."""
    (flash_origin, flash_length), (ram_origin, ram_length) = board.flash, board.ram
    return LINKER_SCRIPT.format(
        flash_origin=flash_origin,
        flash_length=flash_length,
        ram_origin=ram_origin,
        ram_length=ram_length,
    )
