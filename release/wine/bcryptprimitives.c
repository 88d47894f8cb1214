/* A test-only stand-in for Windows' bcryptprimitives.dll, for running the
 * release's Windows binaries under Debian 12's Wine 8, which lacks it.
 *
 * Rust's standard library (1.78+) takes its random bytes (HashMap keys)
 * from ProcessPrng in bcryptprimitives.dll; Wine 8 has no such DLL, so the
 * binaries do not start there. This shim forwards to RtlGenRandom
 * (advapi32's SystemFunction036), which Wine has. It is never shipped:
 * real Windows has the DLL, and release/build.sh only puts this next to
 * the binary in a scratch directory for the Wine checks.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
