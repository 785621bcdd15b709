import com.google.common.collect.ImmutableMultiset;
import com.google.common.collect.Multiset;
import java.util.List;
import org.apache.commons.lang3.StringUtils;
import org.apache.commons.math3.stat.descriptive.DescriptiveStatistics;

public class Solution {
    /** The words of a text, counted case-blind (Guava's multiset, Commons Lang's splitting). */
    public static Multiset<String> wordCounts(String text) {
        return ImmutableMultiset.copyOf(List.of(StringUtils.split(StringUtils.lowerCase(text))));
    }

    /** The median of some values (Commons Math). */
    public static double median(double... values) {
        return new DescriptiveStatistics(values).getPercentile(50);
    }

    /** The word a text uses most, after capitalising it (Commons Lang). */
    public static String mostUsedWord(String text) {
        Multiset<String> counts = wordCounts(text);
        String best = "";
        for (Multiset.Entry<String> entry : counts.entrySet()) {
            if (entry.getCount() > counts.count(best)) {
                best = entry.getElement();
            }
        }
        return StringUtils.capitalize(best);
    }
}
