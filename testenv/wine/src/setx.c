/*
 * setx.exe replacement for Wine, whose own setx.exe is a stub that exits 0 and writes nothing.
 *
 * Supports the forms ktctl (and most scripts) use:
 *   setx NAME VALUE        writes NAME=VALUE as REG_SZ under HKCU\Environment
 *   setx NAME VALUE /M     the same under HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment
 * and prints "SUCCESS: Specified value was saved." after a blank line, like Windows, then
 * broadcasts WM_SETTINGCHANGE "Environment" (as Windows' setx does) with a short timeout.
 * Like Windows, a value longer than 1024 characters is truncated with a warning. The /K, /F, /S,
 * /U and /P forms are not supported (error, exit 1). Set KTCTL_SETX_NO_BROADCAST=1 to skip the
 * broadcast.
 *
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -s -o setx.exe setx.c -ladvapi32 -luser32
 * Install: copy over C:\windows\system32\setx.exe and set
 *          HKCU\Software\Wine\DllOverrides "setx.exe"="native".
 */
#include <windows.h>
#include <wchar.h>

#define MAX_VALUE 1024

static void put(DWORD which, const char *text)
{
    DWORD written;
    HANDLE h = GetStdHandle(which);
    if (h != NULL && h != INVALID_HANDLE_VALUE)
        WriteFile(h, text, (DWORD)strlen(text), &written, NULL);
}

static int syntax_error(void)
{
    put(STD_ERROR_HANDLE, "ERROR: Invalid syntax.\r\nType \"SETX /?\" for usage.\r\n");
    return 1;
}

static void usage(void)
{
    put(STD_OUTPUT_HANDLE,
        "\r\nSETX var value [/M]\r\n\r\n"
        "Description:\r\n"
        "    Creates or modifies environment variables in the user or system\r\n"
        "    environment (ktctl's replacement for Wine's stub setx.exe).\r\n"
        "    Only the \"var value [/M]\" form is supported.\r\n");
}

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *name = NULL, *value = NULL;
    int machine = 0, positional = 0;
    HKEY root = HKEY_CURRENT_USER;
    const wchar_t *path = L"Environment";
    wchar_t buffer[MAX_VALUE + 1];
    HKEY key;
    LONG rc;
    int i;

    if (argc == 2 && (wcscmp(argv[1], L"/?") == 0 || wcscmp(argv[1], L"-?") == 0)) {
        usage();
        return 0;
    }
    for (i = 1; i < argc; i++) {
        const wchar_t *a = argv[i];
        if ((a[0] == L'/' || a[0] == L'-') && a[1] != 0 && a[2] == 0 && positional >= 1) {
            if (a[1] == L'm' || a[1] == L'M') {
                machine = 1;
                continue;
            }
            put(STD_ERROR_HANDLE, "ERROR: This setx.exe (ktctl's Wine replacement) supports only \"setx var value [/M]\".\r\n");
            return 1;
        }
        if (positional == 0)
            name = a;
        else if (positional == 1)
            value = a;
        else
            return syntax_error();
        positional++;
    }
    if (name == NULL || value == NULL || name[0] == 0)
        return syntax_error();

    if (wcslen(value) > MAX_VALUE) {
        put(STD_OUTPUT_HANDLE, "WARNING: The data being saved is truncated to 1024 characters.\r\n");
        wcsncpy(buffer, value, MAX_VALUE);
        buffer[MAX_VALUE] = 0;
        value = buffer;
    }

    if (machine) {
        root = HKEY_LOCAL_MACHINE;
        path = L"SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";
    }
    rc = RegCreateKeyExW(root, path, 0, NULL, 0, KEY_SET_VALUE, NULL, &key, NULL);
    if (rc == ERROR_SUCCESS) {
        rc = RegSetValueExW(key, name, 0, REG_SZ, (const BYTE *)value,
                            (DWORD)((wcslen(value) + 1) * sizeof(wchar_t)));
        RegCloseKey(key);
    }
    if (rc != ERROR_SUCCESS) {
        put(STD_ERROR_HANDLE, rc == ERROR_ACCESS_DENIED ? "ERROR: Access to the registry path is denied.\r\n"
                                                         : "ERROR: Could not write the value to the registry.\r\n");
        return 1;
    }

    if (GetEnvironmentVariableW(L"KTCTL_SETX_NO_BROADCAST", NULL, 0) == 0) {
        DWORD_PTR result;
        SendMessageTimeoutW(HWND_BROADCAST, WM_SETTINGCHANGE, 0, (LPARAM)L"Environment",
                            SMTO_ABORTIFHUNG, 2000, &result);
    }
    put(STD_OUTPUT_HANDLE, "\r\nSUCCESS: Specified value was saved.\r\n");
    return 0;
}
