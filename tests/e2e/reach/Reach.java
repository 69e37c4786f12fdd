// The reach matrix's Java clients, configured only by the -D flags ktctl prints (and a trust
// store for the fixture's CA): `urlconnection` is HttpURLConnection, `httpclient` is
// java.net.http.HttpClient with ProxySelector.getDefault(), which reads the same properties.
// One line per URL: index, status (0 when the request failed), start of the body or the error.
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

public class Reach {
  public static void main(String[] args) {
    String how = args[0];
    for (int i = 1; i < args.length; i++) {
      String line;
      try {
        String[] r = how.equals("httpclient") ? viaHttpClient(args[i]) : viaUrlConnection(args[i]);
        line = r[0] + "\t" + oneLine(r[1]);
      } catch (Exception e) {
        line = "0\t" + oneLine(e.toString());
      }
      System.out.println((i - 1) + "\t" + line);
      System.out.flush();
    }
  }

  static String[] viaUrlConnection(String url) throws Exception {
    HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    c.setConnectTimeout(15000);
    c.setReadTimeout(15000);
    int code = c.getResponseCode();
    InputStream in = code >= 400 ? c.getErrorStream() : c.getInputStream();
    String body = in == null ? "" : new String(in.readNBytes(4096), StandardCharsets.UTF_8);
    c.disconnect();
    return new String[] {String.valueOf(code), body};
  }

  static String[] viaHttpClient(String url) throws Exception {
    HttpClient client = HttpClient.newBuilder()
        .proxy(ProxySelector.getDefault())
        .connectTimeout(Duration.ofSeconds(15))
        .build();
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(15)).build();
    HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
    return new String[] {String.valueOf(r.statusCode()), r.body()};
  }

  static String oneLine(String s) {
    if (s.length() > 300) s = s.substring(0, 300);
    return s.replace("\r", "").replace("\n", "\\n");
  }
}
