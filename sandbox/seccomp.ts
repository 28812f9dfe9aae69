/**
 * A seccomp filter for local sandboxes, handed to bubblewrap (`--seccomp FD`).
 *
 * Why: without a user namespace, a sandbox of a root worker runs as uid 0, and the kernel
 * keyrings are per uid, not per namespace: `keyctl` inside would reach the host root's user
 * keyring. The filter makes the keyring calls (add_key, request_key, keyctl) fail with
 * EPERM; everything else is allowed (the filesystem view and the namespaces are the boundary).
 */
import * as os from 'node:os';

/** Syscall numbers of add_key, request_key and keyctl per audit architecture. */
const KEYRING_SYSCALLS: Record<string, { arch: number; numbers: number[]; x32?: boolean }[]> = {
  x64: [
    { arch: 0xc000003e, numbers: [248, 249, 250], x32: true },
    { arch: 0x40000003, numbers: [286, 287, 288] },
  ],
  arm64: [
    { arch: 0xc00000b7, numbers: [217, 218, 219] },
    { arch: 0x40000028, numbers: [309, 310, 311] },
  ],
};

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_AND_K = 0x54;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
/** x32 syscalls are the x86-64 numbers with this bit set. */
const X32_BIT = 0x40000000;

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The filter as the kernel's `struct sock_filter[]`, or null on an architecture it does not know. */
export function keyringDenyFilter(arch: string = os.arch()): Buffer | null {
  const blocks = KEYRING_SYSCALLS[arch];
  if (!blocks) return null;
  // Laid out as: per arch block [load arch, jeq arch else next block, load nr, (and ~x32),
  // jeq n -> deny ...], then allow, then deny. Jumps are filled once the layout is known.
  const insns: (Insn & { to?: 'allow' | 'deny' | 'next' })[] = [];
  for (const b of blocks) {
    insns.push({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 });
    insns.push({ code: BPF_JEQ_K, jt: 0, jf: 0, k: b.arch, to: 'next' });
    insns.push({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 });
    if (b.x32) insns.push({ code: BPF_AND_K, jt: 0, jf: 0, k: ~X32_BIT >>> 0 });
    for (const n of b.numbers) insns.push({ code: BPF_JEQ_K, jt: 0, jf: 0, k: n, to: 'deny' });
    insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  }
  insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ALLOW });
  const allowAt = insns.length - 1;
  insns.push({ code: BPF_RET_K, jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | EPERM });
  const denyAt = insns.length - 1;
  insns.forEach((insn, i) => {
    if (insn.to === 'deny') insn.jt = denyAt - i - 1;
    if (insn.to === 'next') {
      // Not this arch: skip to the next block's first instruction (or the final allow).
      let next = i + 1;
      while (next < allowAt && !(insns[next].code === BPF_LD_W_ABS && insns[next].k === 4)) next++;
      insn.jf = next - i - 1;
    }
  });
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}
