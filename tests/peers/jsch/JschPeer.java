// JSch (Debian's libjsch-java) as an interop peer of nacre: the client half of the protocol of
// tests/peers/asyncssh_peer.py (used by tests/tests/interop_matrix.rs), run as a single-file program:
//
//   java -cp /usr/share/java/jsch.jar tests/peers/jsch/JschPeer.java client|supported
//
// The client reads each case as one line of tab-separated key=value fields (the flat form of the JSON case:
// nested keys joined by '.', lists by ','), runs it on a new session and prints one JSON result per line.
// The host key is checked against a known_hosts stream of the case's keys (StrictHostKeyChecking=yes);
// password, or the key (JSch 0.1.55 reads PEM files only: ECDSA and RSA keys are converted with
// `ssh-keygen -p -m PEM` into a copy); "algs" set JSch's kex, cipher.*, mac.* and server_host_key; with
// "renegotiate" Session.rekey() runs before and after the upload; exec through ChannelExec (stdout and
// exit status); SFTP through ChannelSftp (put, stat, get, rm).
import com.jcraft.jsch.ChannelExec;
import com.jcraft.jsch.ChannelSftp;
import com.jcraft.jsch.JSch;
import com.jcraft.jsch.Session;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;

public class JschPeer {
    static final String SUPPORTED = "{\"kex\":[\"ecdh-sha2-nistp256\",\"ecdh-sha2-nistp384\",\"ecdh-sha2-nistp521\","
            + "\"diffie-hellman-group14-sha1\",\"diffie-hellman-group-exchange-sha256\","
            + "\"diffie-hellman-group-exchange-sha1\"],"
            + "\"hostkey\":[\"ssh-rsa\",\"ecdsa-sha2-nistp256\",\"ecdsa-sha2-nistp384\",\"ecdsa-sha2-nistp521\"],"
            + "\"cipher\":[\"aes128-ctr\",\"aes192-ctr\",\"aes256-ctr\"],"
            + "\"mac\":[\"hmac-sha2-256\",\"hmac-sha1\"]}";

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "";
        if (mode.equals("supported")) {
            System.out.println(SUPPORTED);
            return;
        }
        if (!mode.equals("client")) {
            System.err.println("usage: JschPeer client|supported");
            System.exit(2);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            Map<String, String> c = new HashMap<>();
            for (String f : line.split("\t")) {
                int eq = f.indexOf('=');
                if (eq > 0) c.put(f.substring(0, eq), f.substring(eq + 1));
            }
            System.out.println(runCase(c));
            System.out.flush();
        }
    }

    static String runCase(Map<String, String> c) {
        Integer status = null;
        String stdout = "";
        String error = "";
        boolean ok = false;
        Session s = null;
        try {
            JSch jsch = new JSch();
            int port = Integer.parseInt(c.get("port"));
            StringBuilder kh = new StringBuilder();
            for (String k : c.getOrDefault("host_keys", "").split(",")) {
                if (!k.isEmpty()) kh.append("[127.0.0.1]:").append(port).append(' ').append(k).append('\n');
            }
            jsch.setKnownHosts(new ByteArrayInputStream(kh.toString().getBytes(StandardCharsets.UTF_8)));
            if (c.containsKey("key")) jsch.addIdentity(pemKey(c.get("key")));
            s = jsch.getSession(c.get("user"), "127.0.0.1", port);
            s.setConfig("StrictHostKeyChecking", "yes");
            if (c.containsKey("key")) {
                s.setConfig("PreferredAuthentications", "publickey");
            } else {
                s.setPassword(c.get("password"));
                s.setConfig("PreferredAuthentications", "password");
            }
            if (c.containsKey("algs.kex")) s.setConfig("kex", c.get("algs.kex"));
            if (c.containsKey("algs.hostkey")) s.setConfig("server_host_key", c.get("algs.hostkey"));
            if (c.containsKey("algs.cipher")) {
                s.setConfig("cipher.c2s", c.get("algs.cipher"));
                s.setConfig("cipher.s2c", c.get("algs.cipher"));
            }
            if (c.containsKey("algs.mac")) {
                s.setConfig("mac.c2s", c.get("algs.mac"));
                s.setConfig("mac.s2c", c.get("algs.mac"));
            }
            s.connect(60000);
            if (c.containsKey("exec")) {
                ChannelExec ch = (ChannelExec) s.openChannel("exec");
                ch.setCommand(c.get("exec"));
                ch.setInputStream(null);
                InputStream out = ch.getInputStream();
                ch.connect(60000);
                ByteArrayOutputStream buf = new ByteArrayOutputStream();
                out.transferTo(buf);
                long deadline = System.currentTimeMillis() + 60000;
                while (!ch.isClosed() && System.currentTimeMillis() < deadline) Thread.sleep(10);
                status = ch.getExitStatus();
                stdout = buf.toString(StandardCharsets.UTF_8);
                ch.disconnect();
            }
            if (c.containsKey("sftp.local")) {
                boolean rekey = "true".equals(c.get("renegotiate"));
                ChannelSftp sf = (ChannelSftp) s.openChannel("sftp");
                sf.connect(60000);
                String local = c.get("sftp.local");
                String remote = c.get("sftp.remote");
                if (rekey) s.rekey();
                sf.put(local, remote);
                if (rekey) s.rekey();
                long size = sf.stat(remote).getSize();
                if (size != new File(local).length()) throw new Exception("size after put " + size);
                sf.get(remote, c.get("sftp.back"));
                if (!"false".equals(c.get("sftp.remove"))) sf.rm(remote);
                sf.disconnect();
            }
            ok = true;
        } catch (Exception e) {
            error = e.getClass().getName() + ": " + e.getMessage();
        } finally {
            if (s != null) s.disconnect();
        }
        return "{\"name\":" + str(c.get("name")) + ",\"ok\":" + ok + ",\"error\":" + str(error)
                + ",\"exit_status\":" + status + ",\"stdout\":" + str(stdout) + ",\"negotiated\":{}}";
    }

    /** JSch 0.1.55 reads PEM keys only: a PEM copy of an OpenSSH-format key, made once. */
    static String pemKey(String path) throws Exception {
        File pem = new File(path + ".jsch.pem");
        if (!pem.exists()) {
            File tmp = new File(path + ".jsch.tmp");
            Files.copy(new File(path).toPath(), tmp.toPath(), StandardCopyOption.REPLACE_EXISTING);
            Process p = new ProcessBuilder("ssh-keygen", "-q", "-p", "-N", "", "-m", "PEM", "-f", tmp.getPath())
                    .redirectErrorStream(true).start();
            p.getInputStream().transferTo(new ByteArrayOutputStream());
            if (p.waitFor() != 0) throw new Exception("ssh-keygen -m PEM failed for " + path);
            Files.move(tmp.toPath(), pem.toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
        return pem.getPath();
    }

    static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (ch < 32) b.append(String.format("\\u%04x", (int) ch));
                    else b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
