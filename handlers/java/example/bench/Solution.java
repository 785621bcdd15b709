public class Solution {
    /** A fixed CPU loop: n steps of a linear congruential generator. */
    public static long spin(int n) {
        long x = 0;
        for (int i = 0; i < n; i++) {
            x = x * 6364136223846793005L + i;
        }
        return x;
    }
}
