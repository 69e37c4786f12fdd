/*
 * Minimal bcryptprimitives.dll for Wine 8, which lacks it.
 *
 * Rust's standard library (and so deno.exe) imports ProcessPrng from bcryptprimitives.dll;
 * when the DLL is missing the Windows loader refuses to start the program (deno.exe exits 53
 * without a word). This exports ProcessPrng and fills the buffer through advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine implements.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -nostdlib -O2 -s -o bcryptprimitives.dll \
 *          bcryptprimitives.c bcryptprimitives.def -Wl,--entry,DllMain -lkernel32 -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
    while (size > 0) {
        ULONG chunk = size > 0x40000000 ? 0x40000000 : (ULONG)size;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        size -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
