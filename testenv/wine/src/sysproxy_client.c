/*
 * sysproxy_client.exe [wininet|winhttp] URL: a Windows program that takes its proxy from the
 * system settings, as browsers and most Windows programs do, for the Wine tests of
 * `--setupGlobalProxy`. Prints, each on its own line, `proxy: <what it found>`,
 * `status: <HTTP status>`, then the response body; exit 0 when a response arrived, 1 otherwise
 * (with the Windows error).
 * - wininet (default): INTERNET_OPEN_TYPE_PRECONFIG, i.e. the user's Internet Settings
 *   (ProxyEnable/ProxyServer/ProxyOverride, AutoConfigURL where WinINet supports it).
 * - winhttp: what Chromium does on Windows: WinHttpGetIEProxyConfigForCurrentUser, then, for an
 *   auto-config URL, WinHttpGetProxyForUrl (fetches and runs the PAC), then the request through
 *   the proxy found.
 *
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -s -o sysproxy_client.exe sysproxy_client.c
 *        sysproxy_winhttp.c -lwininet -lwinhttp
 */
#include <windows.h>
#include <wininet.h>
#include <stdio.h>

/* sysproxy_winhttp.c: winhttp.h and wininet.h cannot be included together. */
int with_winhttp(const wchar_t *url);

int wmain(int argc, wchar_t **argv)
{
    HINTERNET session, request;
    char buffer[4096];
    DWORD read, status = 0, size = sizeof(status), info_size = 0;
    INTERNET_PROXY_INFO *info; /* LPCWSTR fields: built with -municode */

    if (argc == 3 && wcscmp(argv[1], L"winhttp") == 0) return with_winhttp(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"wininet") == 0) argv++;
    else if (argc != 2) {
        fprintf(stderr, "usage: sysproxy_client [wininet|winhttp] URL\n");
        return 2;
    }
    session = InternetOpenW(L"ktctl-sysproxy-client", INTERNET_OPEN_TYPE_PRECONFIG, NULL, NULL, 0);
    if (!session) {
        fprintf(stderr, "InternetOpen failed: %lu\n", GetLastError());
        return 1;
    }
    InternetQueryOptionW(session, INTERNET_OPTION_PROXY, NULL, &info_size);
    info = info_size ? HeapAlloc(GetProcessHeap(), 0, info_size) : NULL;
    if (info && InternetQueryOptionW(session, INTERNET_OPTION_PROXY, info, &info_size)) {
        printf("proxy: type=%lu server=%ls bypass=%ls\n", info->dwAccessType,
               info->lpszProxy ? (const wchar_t *)info->lpszProxy : L"",
               info->lpszProxyBypass ? (const wchar_t *)info->lpszProxyBypass : L"");
    } else {
        printf("proxy: unknown (%lu)\n", GetLastError());
    }
    request = InternetOpenUrlW(session, argv[1], NULL, 0,
                               INTERNET_FLAG_RELOAD | INTERNET_FLAG_NO_CACHE_WRITE, 0);
    if (!request) {
        printf("error: InternetOpenUrl failed: %lu\n", GetLastError());
        InternetCloseHandle(session);
        return 1;
    }
    HttpQueryInfoW(request, HTTP_QUERY_STATUS_CODE | HTTP_QUERY_FLAG_NUMBER, &status, &size, NULL);
    printf("status: %lu\n", status);
    fflush(stdout);
    while (InternetReadFile(request, buffer, sizeof(buffer), &read) && read > 0)
        fwrite(buffer, 1, read, stdout);
    fflush(stdout);
    InternetCloseHandle(request);
    InternetCloseHandle(session);
    return 0;
}
