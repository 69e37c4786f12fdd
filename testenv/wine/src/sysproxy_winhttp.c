/*
 * The winhttp half of sysproxy_client.exe (see sysproxy_client.c): the proxy lookup Chromium
 * does on Windows, then one GET through the proxy found.
 */
#include <windows.h>
#include <winhttp.h>
#include <stdio.h>

int with_winhttp(const wchar_t *url)
{
    WINHTTP_CURRENT_USER_IE_PROXY_CONFIG ie = {0};
    WINHTTP_PROXY_INFO found = {0};
    HINTERNET session, connect, request;
    URL_COMPONENTS parts = {sizeof(parts)};
    wchar_t host[256], path[1024];
    DWORD status = 0, size = sizeof(status), read;
    char buffer[4096];

    if (!WinHttpGetIEProxyConfigForCurrentUser(&ie)) {
        printf("error: WinHttpGetIEProxyConfigForCurrentUser failed: %lu\n", GetLastError());
        return 1;
    }
    printf("ie: autodetect=%d autoconfig=%ls proxy=%ls bypass=%ls\n", ie.fAutoDetect,
           ie.lpszAutoConfigUrl ? ie.lpszAutoConfigUrl : L"", ie.lpszProxy ? ie.lpszProxy : L"",
           ie.lpszProxyBypass ? ie.lpszProxyBypass : L"");
    session = WinHttpOpen(L"ktctl-sysproxy-client", WINHTTP_ACCESS_TYPE_NO_PROXY,
                          WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0);
    if (ie.lpszAutoConfigUrl) {
        WINHTTP_AUTOPROXY_OPTIONS options = {0};
        options.dwFlags = WINHTTP_AUTOPROXY_CONFIG_URL;
        options.lpszAutoConfigUrl = ie.lpszAutoConfigUrl;
        if (!WinHttpGetProxyForUrl(session, url, &options, &found)) {
            printf("error: WinHttpGetProxyForUrl failed: %lu\n", GetLastError());
            return 1;
        }
    } else if (ie.lpszProxy) {
        found.dwAccessType = WINHTTP_ACCESS_TYPE_NAMED_PROXY;
        found.lpszProxy = ie.lpszProxy;
        found.lpszProxyBypass = ie.lpszProxyBypass;
    } else {
        found.dwAccessType = WINHTTP_ACCESS_TYPE_NO_PROXY;
    }
    printf("proxy: type=%lu server=%ls\n", found.dwAccessType,
           found.lpszProxy ? found.lpszProxy : L"");
    WinHttpSetOption(session, WINHTTP_OPTION_PROXY, &found, sizeof(found));
    parts.lpszHostName = host;
    parts.dwHostNameLength = ARRAYSIZE(host);
    parts.lpszUrlPath = path;
    parts.dwUrlPathLength = ARRAYSIZE(path);
    if (!WinHttpCrackUrl(url, 0, 0, &parts)) {
        printf("error: WinHttpCrackUrl failed: %lu\n", GetLastError());
        return 1;
    }
    connect = WinHttpConnect(session, host, parts.nPort, 0);
    request = connect ? WinHttpOpenRequest(connect, L"GET", path, NULL, WINHTTP_NO_REFERER,
                                           WINHTTP_DEFAULT_ACCEPT_TYPES, 0) : NULL;
    if (!request || !WinHttpSendRequest(request, WINHTTP_NO_ADDITIONAL_HEADERS, 0,
                                        WINHTTP_NO_REQUEST_DATA, 0, 0, 0) ||
        !WinHttpReceiveResponse(request, NULL)) {
        printf("error: request failed: %lu\n", GetLastError());
        return 1;
    }
    WinHttpQueryHeaders(request, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                        WINHTTP_HEADER_NAME_BY_INDEX, &status, &size, WINHTTP_NO_HEADER_INDEX);
    printf("status: %lu\n", status);
    while (WinHttpReadData(request, buffer, sizeof(buffer), &read) && read > 0)
        fwrite(buffer, 1, read, stdout);
    fflush(stdout);
    return 0;
}

