public class Solution {
    public static long fib(int n) {
        long spinUntil = System.nanoTime() + 200_000;
        while (System.nanoTime() < spinUntil) { }
        long a = 0, b = 1;
        for (int i = 0; i < n; i++) {
            long next = a + b;
            a = b;
            b = next;
        }
        return a;
    }
}
