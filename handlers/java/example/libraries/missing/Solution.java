import com.fasterxml.jackson.databind.ObjectMapper;

public class Solution {
    public static int size(String json) throws Exception {
        return new ObjectMapper().readTree(json).size();
    }
}
