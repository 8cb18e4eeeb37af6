/* A stand-in for bcryptprimitives.dll, which Rust's standard library imports on Windows
   (ProcessPrng, Windows 10 and later) and wine 8.0 lacks: the same function through
   RtlGenRandom (advapi32's SystemFunction036). Only for running camview.exe under wine in
   the tests; real Windows has the DLL. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
