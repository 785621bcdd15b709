public class Solution {
    public static long fib(int n) { return n; }
}
