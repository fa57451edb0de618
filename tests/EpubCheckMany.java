// EPUBCheck over many books in one JVM (tests/helpers.py runs it with Java's source launcher):
// java -cp epubcheck.jar EpubCheckMany.java BOOK.epub REPORT.json [BOOK.epub REPORT.json ...]
// A JVM per book spends ~4 s of CPU starting up and warming up; one JVM checks the corpus in ~8 s.
public class EpubCheckMany {
    public static void main(String[] args) {
        for (int i = 0; i + 1 < args.length; i += 2) {
            new com.adobe.epubcheck.tool.EpubChecker().run(new String[] {args[i], "--json", args[i + 1], "-q"});
        }
    }
}
