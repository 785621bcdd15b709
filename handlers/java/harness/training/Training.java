public class Training {
    public static long square(int n) {
        return (long) n * n;
    }
}
