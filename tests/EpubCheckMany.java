// EPUBCheck over many books in one JVM (tests/helpers.py runs it with Java's source launcher).
//   java -cp epubcheck.jar EpubCheckMany.java BOOK.epub REPORT.json [BOOK.epub REPORT.json ...]
//   java -cp epubcheck.jar EpubCheckMany.java --serve
// --serve reads "BOOK.epub<TAB>REPORT.json" lines from stdin and answers each with a line
// "@@checked" once its report is written, until stdin closes: one JVM for a whole test session.
// A JVM per book spends ~4 s of CPU starting up and warming up; a warm one checks a book in well under 1 s.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

public class EpubCheckMany {
    static void check(String book, String report) {
        new com.adobe.epubcheck.tool.EpubChecker().run(new String[] {book, "--json", report, "-q"});
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--serve")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                String[] pair = line.split("\t", 2);
                if (pair.length == 2) {
                    try {
                        check(pair[0], pair[1]);
                    } catch (RuntimeException e) {
                        System.out.println("EpubCheckMany: " + e);
                    }
                }
                System.out.println("@@checked");
                System.out.flush();
            }
            return;
        }
        for (int i = 0; i + 1 < args.length; i += 2) {
            check(args[i], args[i + 1]);
        }
    }
}
