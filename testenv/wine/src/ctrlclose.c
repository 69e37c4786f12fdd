/*
 * ctrlclose.exe PID [TIMEOUT_MS]: does to process PID what Windows does when the user closes its
 * console window, for a Wine test: Wine cannot deliver CTRL_CLOSE_EVENT itself (its server
 * implements only CTRL_C and CTRL_BREAK, server/console.c propagate_console_signal).
 *
 * Windows delivers a console control event by starting a thread in the process at
 * kernelbase!CtrlRoutine with the event as its argument; CtrlRoutine calls the registered
 * handlers, last registered first. For CTRL_CLOSE_EVENT the process is then ended as soon as
 * the handlers return, or after about 5 s if they do not. This program does the same: a remote
 * thread at CtrlRoutine(CTRL_CLOSE_EVENT), wait for it (TIMEOUT_MS, default 5000), then
 * TerminateProcess(0xC000013A, STATUS_CONTROL_C_EXIT). It prints "returned in N ms" or
 * "timed out" and exits 0 when the handlers returned in time.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -s -o ctrlclose.exe ctrlclose.c
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    DWORD pid, timeout = 5000, started, waited;
    HANDLE process, thread;
    LPTHREAD_START_ROUTINE ctrl_routine;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: ctrlclose PID [TIMEOUT_MS]\n");
        return 2;
    }
    pid = (DWORD)strtoul(argv[1], NULL, 10);
    if (argc == 3) timeout = (DWORD)strtoul(argv[2], NULL, 10);
    /* kernelbase is mapped at the same address in every process of a session. */
    ctrl_routine = (LPTHREAD_START_ROUTINE)GetProcAddress(GetModuleHandleA("kernelbase.dll"),
                                                          "CtrlRoutine");
    if (!ctrl_routine) {
        fprintf(stderr, "kernelbase!CtrlRoutine not found\n");
        return 3;
    }
    process = OpenProcess(PROCESS_ALL_ACCESS, FALSE, pid);
    if (!process) {
        fprintf(stderr, "OpenProcess(%lu) failed: %lu\n", pid, GetLastError());
        return 4;
    }
    started = GetTickCount();
    thread = CreateRemoteThread(process, NULL, 0, ctrl_routine, (LPVOID)(DWORD_PTR)CTRL_CLOSE_EVENT,
                                0, NULL);
    if (!thread) {
        fprintf(stderr, "CreateRemoteThread failed: %lu\n", GetLastError());
        return 5;
    }
    waited = WaitForSingleObject(thread, timeout);
    if (waited == WAIT_OBJECT_0)
        printf("returned in %lu ms\n", GetTickCount() - started);
    else
        printf("timed out after %lu ms\n", timeout);
    fflush(stdout);
    TerminateProcess(process, 0xC000013A);
    WaitForSingleObject(process, 10000);
    return waited == WAIT_OBJECT_0 ? 0 : 1;
}
